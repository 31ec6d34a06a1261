"""The model: the resolved plan (:mod:`.plan`), building, warm-up, saving and scale."""
