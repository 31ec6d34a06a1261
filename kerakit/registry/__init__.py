"""Layer 1: plugin discovery (:mod:`.discovery`), the component table (:mod:`.table`)
and the public lookups (:mod:`.lookup`)."""
