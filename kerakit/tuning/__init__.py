"""Layer 4: hyperparameter search: the search space (:mod:`.search_space`),
the search (:mod:`.search`) and local distributed workers (:mod:`.distributed`)."""
