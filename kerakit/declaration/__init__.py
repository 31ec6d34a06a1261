"""Layer 2: the declaration as data: component references and placeholders
(:mod:`.values`), the :class:`~kerakit.declaration.model.Model` (:mod:`.model`),
recipe files (:mod:`.recipes`) and the embedded default (:mod:`.defaults`)."""
