"""MLflow tracking for kerakit (plugin name ``mlflow``, tracker ``mlflow``)."""

__version__ = "0.1.0"
