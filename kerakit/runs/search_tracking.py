"""A search as trackers see it: one parent run, one child run per trial.

Any tuner engine reports to trackers through a :class:`SearchTracking`; see
:mod:`kerakit.runs.tracking` for the trackers themselves.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kerakit.base import RunOutcome, TrackedRun
from kerakit.declaration.model import FixedSampler, Model, walk
from kerakit.errors import TrackerWarning
from kerakit.runs.tracking import Tracking, _is_number, run_files

__all__ = ["TRIAL_STATUS", "SearchTracking"]

#: Trial statuses (KerasTuner's and other engines') -> tracked run statuses.
TRIAL_STATUS = {"COMPLETED": "finished", "PRUNED": "pruned", "STOPPED": "pruned"}


class SearchTracking:
    """A search as trackers see it: one parent run, one child run per trial.

    Any tuner engine drives it with the same calls, all optional to
    implement for an engine and all no-ops when nothing tracks:
    :meth:`trial_started` and :meth:`trial_finished` (the search's listener
    events), :meth:`trial_callbacks` for a trial's ``model.fit`` (per-epoch
    metrics) and :meth:`trial_model` for the trained model (an artifact).

    Example:
        >>> with SearchTracking(Tracking()).search_run("demo", None) as outcome:
        ...     outcome.metrics = {"val_accuracy": 0.9}

    Args:
        tracking: The trackers.
        decl: The searched declaration (placeholders included).
        data: The search's dataset.
        versions: kerakit's and the plugins' versions.
        objective: The metric the search optimises.
    """

    def __init__(self, tracking: Tracking, decl: Model | None = None, data: Any = None,
                 versions: dict[str, str] | None = None, objective: str = "score") -> None:
        self.tracking, self.decl, self.data = tracking, decl, data
        self.versions, self.objective = dict(versions or {}), objective
        self.parent: TrackedRun | None = None
        self.trials: dict[str, TrackedRun] = {}
        self.models: dict[str, Path] = {}

    @property
    def active(self) -> bool:
        return self.tracking.active

    @contextmanager
    def search_run(self, name: str, directory: Path | None) -> Iterator[RunOutcome]:
        """The parent run, open while the block runs; failed if the block raises."""
        self.parent = self.tracking.start(
            "search", name, decl=self.decl, data=self.data, run_dir=directory,
            versions=self.versions,
            hyperparameters={"objective": self.objective} if self.active else None)
        try:
            with self.tracking.running(self.parent) as outcome:
                yield outcome
                for trial in list(self.trials.values()):  # never finished: the search stopped
                    self.tracking.end(trial, RunOutcome("failed", error="the search stopped"))
                if directory is not None:
                    outcome.files = [p for p in run_files(directory)
                                     if p.parent == Path(directory).absolute()]
        finally:
            self.trials.clear()

    def trial_started(self, trial: str, values: dict[str, Any], run_dir: Path | None = None
                      ) -> None:
        """A trial started with these hyperparameter values (by dotted name)."""
        if not self.active:
            return
        values = {k: v for k, v in values.items() if not str(k).startswith("tuner/")}
        decl = None
        if self.decl is not None:
            try:
                decl = walk(self.decl, FixedSampler(values))
            except Exception:  # the engine's own names: the trial still gets its values
                decl = None
        self.trials[str(trial)] = self.tracking.start(
            "trial", f"trial_{trial}", decl=decl, hyperparameters=values, data=self.data,
            run_dir=run_dir, parent=self.parent, versions=self.versions)

    def trial_callbacks(self, trial: str) -> list[Any]:
        """Keras callbacks reporting the trial's epochs; add them to its ``model.fit``."""
        run = self.trials.get(str(trial))
        return self.tracking.callback(run) if run is not None else []

    def trial_model(self, trial: str, model: Any, directory: Path) -> None:
        """Save a trained trial's model as ``directory/model.keras`` for the trackers."""
        if str(trial) not in self.trials:
            return
        path = Path(directory) / "model.keras"
        try:
            model.save(path)
        except Exception as exc:  # an unsaveable model loses its artifact, not the trial
            warnings.warn(f"Trial {trial}'s model was not saved for the trackers: {exc}",
                          TrackerWarning, stacklevel=2)
            return
        self.models[str(trial)] = path

    def trial_finished(self, row: dict[str, Any]) -> None:
        """A trial ended; ``row`` is its ``trials.csv`` row (trial, status, score, reason)."""
        run = self.trials.pop(str(row.get("trial")), None)
        if run is None:
            return
        score: Any = row.get("score")
        status = TRIAL_STATUS.get(str(row.get("status")).upper(), "failed")
        model = self.models.pop(str(row.get("trial")), None)
        self.tracking.end(run, RunOutcome(
            status, metrics={self.objective: float(score)} if _is_number(score) else {},
            files=[model] if model is not None else [], model=model,
            error=row.get("reason") or None if status != "finished" else None))
