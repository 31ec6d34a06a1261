"""A fixture plugin whose tracker fails at every epoch."""
