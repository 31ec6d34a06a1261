"""The built-in tracker: TensorBoard's HParams dashboard for runs and tuning trials.

Each trial (or training run) gets its own log directory holding an HParams
summary of its hyperparameters and one scalar per logged metric and epoch.
When a search ends, the experiment summary (every hyperparameter's domain
and every metric) is written at the top, so ``tensorboard --logdir`` shows
the trials table and the parallel-coordinates view.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from kerakit.base import RunOutcome, TrackedRun, Tracker

#: The folder, beside the run directories or in the tuning directory, holding the logs.
LOG_FOLDER = "tensorboard"


class TensorBoardHParams(Tracker):
    """Log hyperparameters and metrics to TensorBoard's HParams dashboard.

    Logs go to ``<tuning dir>/tensorboard/<trial>`` for tuning trials and to
    ``<runs dir>/tensorboard/<run>`` for training runs.

    Args:
        logdir: Write every log under this folder instead.
    """

    def __init__(self, logdir: str | None = None) -> None:
        self.logdir = logdir
        self._writers: dict[str, Any] = {}
        self._seen: dict[str, dict[str, set[Any]]] = {}  # search id -> hyperparameter values
        self._metrics: dict[str, set[str]] = {}  # search id -> metric names

    def root(self, run: TrackedRun) -> Path:
        """The folder holding the log directories of ``run`` and its siblings."""
        if self.logdir is not None:
            return Path(self.logdir)
        anchor = run.parent if run.parent is not None else run
        if anchor.run_dir is None:
            return Path(LOG_FOLDER)
        if run.parent is not None:
            return anchor.run_dir / LOG_FOLDER
        return anchor.run_dir.parent / LOG_FOLDER

    def start_run(self, run: TrackedRun) -> None:
        if run.kind == "search":
            self._seen[run.id], self._metrics[run.id] = {}, set()
            return
        from tensorboard.plugins.hparams import api as hparams_api

        values = {name: _plain(value) for name, value in run.hyperparameters.items()}
        if run.parent is not None and run.parent.id in self._seen:
            for name, value in values.items():
                self._seen[run.parent.id].setdefault(name, set()).add(value)
        writer = self._writer(run)
        with writer.as_default():
            hparams_api.hparams(values, trial_id=f"{run.parent.name}/{run.name}"
                                if run.parent is not None else run.name)
        writer.flush()

    def log_epoch(self, run: TrackedRun, epoch: int, metrics: dict[str, float]) -> None:
        import tensorflow as tf

        writer = self._writer(run)
        with writer.as_default():
            for name, value in metrics.items():
                if isinstance(value, (int, float)) and math.isfinite(value):
                    tf.summary.scalar(name, value, step=epoch)
        # no flush per epoch: the writer flushes on its own clock and when the run ends
        if run.parent is not None and run.parent.id in self._metrics:
            self._metrics[run.parent.id].update(metrics)

    def end_run(self, run: TrackedRun, outcome: RunOutcome) -> None:
        if run.kind == "search":
            self._write_experiment(run)
            return
        writer = self._writers.pop(run.id, None)
        if writer is not None:
            writer.close()

    def _writer(self, run: TrackedRun) -> Any:
        import tensorflow as tf

        if run.id not in self._writers:
            self._writers[run.id] = tf.summary.create_file_writer(
                str(self.root(run) / run.name))
        return self._writers[run.id]

    def _write_experiment(self, search: TrackedRun) -> None:
        import tensorflow as tf
        from tensorboard.plugins.hparams import api as hparams_api

        seen = self._seen.pop(search.id, {})
        metrics = sorted(self._metrics.pop(search.id, set()))
        domains = [hparams_api.HParam(name, _domain(values))
                   for name, values in sorted(seen.items())]
        root = Path(self.logdir) if self.logdir is not None else \
            Path(search.run_dir or ".") / LOG_FOLDER
        writer = tf.summary.create_file_writer(str(root))
        with writer.as_default():
            hparams_api.hparams_config(hparams=domains,
                                       metrics=[hparams_api.Metric(m) for m in metrics])
        writer.close()


def _plain(value: Any) -> Any:
    """A value TensorBoard accepts: a bool, a number or a string."""
    return value if isinstance(value, (bool, int, float, str)) else str(value)


def _domain(values: set[Any]) -> Any:
    from tensorboard.plugins.hparams import api as hparams_api

    if all(isinstance(v, bool) for v in values):
        return hparams_api.Discrete(sorted(values))
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        if all(isinstance(v, int) for v in values):
            return hparams_api.Discrete(sorted(values))
        return hparams_api.RealInterval(float(min(values)), float(max(values)))
    return hparams_api.Discrete(sorted(str(v) for v in values))


CATALOGUE = {"tensorboard": TensorBoardHParams}
