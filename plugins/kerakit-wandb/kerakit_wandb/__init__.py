"""Weights & Biases tracking for kerakit (plugin name ``wandb``, tracker ``wandb``)."""

__version__ = "0.1.0"
