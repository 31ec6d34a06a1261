"""A training run: fit and evaluate, the run directory, locks, backups, reports and trackers."""
