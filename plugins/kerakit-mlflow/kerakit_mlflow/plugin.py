"""Hook implementations: the ``mlflow`` tracker.

MLflow is imported only when a run turns the tracker on, so listing plugins
or training without tracking never pays for it.
"""

from __future__ import annotations

import kerakit

# kerakit_trackers arrived in plugin API 1.1
KERAKIT_PLUGIN_API = ["1.1"]


def mlflow(uri: str | None = None, experiment: str | None = None):
    """Log runs, tuning trials (as nested runs), metrics and models to MLflow.

    Args:
        uri: The tracking URI; defaults to ``MLFLOW_TRACKING_URI``, else MLflow's
            local default (``sqlite:///mlflow.db`` in the working directory).
        experiment: The experiment; defaults to ``MLFLOW_EXPERIMENT_NAME``, else
            the declaration's name.
    """
    from kerakit_mlflow.tracker import MlflowTracker

    return MlflowTracker(uri=uri, experiment=experiment)


@kerakit.hookimpl
def kerakit_trackers(register):
    register("mlflow", mlflow)
