"""Stands in for a large library (keras-hub, transformers) that a plugin imports at its top."""

TABLE = [i * i for i in range(200_000)]
