"""kerakit-optuna: an Optuna tuner engine for kerakit (``engine="optuna"``)."""

__version__ = "0.1.0"
