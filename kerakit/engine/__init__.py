"""Layer 3: the resolved plan (:mod:`.plan`) and what runs it: building,
training, reports, saving, export and prediction."""
