"""Layer 2: plugin discovery (:mod:`.discovery`), the component table (:mod:`.table`),
the cached component index (:mod:`.index`) and the public lookups (:mod:`.lookup`)."""
