"""Experiment tracking: which trackers a run uses, and telling them what happens.

Trackers are components of the kind ``trackers`` (see
:func:`kerakit.hookspecs.kerakit_trackers`), turned on by name from three
places, all of them used: ``fit(track=...)`` / ``--track NAME``, the
declaration's ``track`` field, and ``KERAKIT_TRACK=a,b``.

A :class:`Tracking` fans each event out to its trackers. A tracker that
raises is switched off with one :class:`~kerakit.errors.TrackerWarning` and
the run goes on, like a quarantined plugin. Search engines use the same small
API for tuning: :meth:`Tracking.start` a ``"search"``, then one ``"trial"``
per trial with the search as ``parent``, :meth:`Tracking.callback` for its
epochs and :meth:`Tracking.end` with ``"finished"``, ``"failed"`` or
``"pruned"``.
"""

from __future__ import annotations

import hashlib
import os
import uuid
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kerakit.base import RunOutcome, TrackedRun, Tracker
from kerakit.data import Dataset
from kerakit.declaration.model import FixedSampler, Model, Sampler, walk
from kerakit.errors import TrackerWarning, UsageError
from kerakit.registry.discovery import current_registry
from kerakit.registry.table import Registry

__all__ = ["ENV_VAR", "Tracking", "data_fingerprint", "tracker_names"]

#: Comma-separated tracker names turned on for every run of the process.
ENV_VAR = "KERAKIT_TRACK"


def tracker_names(track: Iterable[str] | str | None = None,
                  decl: Model | None = None) -> list[str]:
    """The trackers a run uses: ``track``, then the declaration's, then ``KERAKIT_TRACK``.

    Example:
        >>> tracker_names(["mlflow", "tensorboard", "mlflow"])
        ['mlflow', 'tensorboard']

    Args:
        track: Names given for this run (``--track``).
        decl: The declaration, whose ``track`` field (if any) adds its names.

    Returns:
        The names, each once, in that order.

    Raises:
        UsageError: for a name that is not a non-empty string.
    """
    given = [track] if isinstance(track, str) else list(track or ())
    declared = list(getattr(decl, "track", None) or ())
    from_env = [n.strip() for n in os.environ.get(ENV_VAR, "").split(",") if n.strip()]
    names: list[str] = []
    for name in [*given, *declared, *from_env]:
        if not isinstance(name, str) or not name.strip():
            raise UsageError(f"Invalid tracker name. Expected a registered tracker's name such "
                             f"as 'mlflow' or 'tensorboard'. Received: track={name!r}")
        if name.strip() not in names:
            names.append(name.strip())
    return names


class Tracking:
    """The trackers of one training run or search, each guarded.

    Example:
        >>> tracking = Tracking.open([])
        >>> tracking.active
        False

    Args:
        trackers: ``(name, tracker)`` pairs.
    """

    def __init__(self, trackers: Iterable[tuple[str, Tracker]] = ()) -> None:
        self.trackers = list(trackers)
        self.failed: dict[str, str] = {}

    @classmethod
    def open(cls, names: Iterable[str], registry: Registry | None = None) -> Tracking:
        """Create the named trackers; one that cannot be created is left out with a warning.

        Raises:
            ComponentNotFoundError: for a name no loaded plugin registers as a tracker.
        """
        names = list(names)
        if not names:
            return cls()
        registry = registry or current_registry()
        components = [registry.get("trackers", name) for name in names]  # typos fail here
        tracking = cls()
        for component in components:
            try:
                tracking.trackers.append((component.qualified_name, component.create()))
            except Exception as exc:
                tracking._switch_off(component.qualified_name, "start", exc)
        return tracking

    @property
    def active(self) -> bool:
        return bool(self.trackers)

    def start(self, kind: str, name: str, *, decl: Model | None = None,
              hyperparameters: dict[str, Any] | None = None, data: Any = None,
              run_dir: Path | None = None, parent: TrackedRun | None = None,
              versions: dict[str, str] | None = None) -> TrackedRun:
        """Tell every tracker a run started; return its :class:`~kerakit.base.TrackedRun`.

        Args:
            kind: ``"train"``, ``"search"`` or ``"trial"``.
            name: The run's name.
            decl: The resolved declaration.
            hyperparameters: The chosen values by dotted name.
            data: A ``Dataset`` (or anything with a ``name``): its name and fingerprint.
            run_dir: Where the run writes its files.
            parent: The search run of a trial.
            versions: kerakit's and the plugins' versions; see :func:`versions_of`.
        """
        if not self.active:  # nothing listens: skip the fingerprint and the declaration
            return TrackedRun(uuid.uuid4().hex, name, kind, parent=parent)
        run = TrackedRun(
            id=uuid.uuid4().hex, name=name, kind=kind, parent=parent,
            declaration=decl.to_dict() if decl is not None else {},
            hyperparameters=dict(hyperparameters or {}),
            data={"name": getattr(data, "name", None), "fingerprint": data_fingerprint(data)}
            if data is not None else {},
            versions=dict(versions or {}), run_dir=Path(run_dir) if run_dir else None)
        self._each("start_run", run)
        return run

    def epoch(self, run: TrackedRun, epoch: int, metrics: dict[str, Any]) -> None:
        """Tell every tracker an epoch ended."""
        values = {k: float(v) for k, v in (metrics or {}).items() if _is_number(v)}
        self._each("log_epoch", run, epoch, values)

    def end(self, run: TrackedRun, outcome: RunOutcome | None = None) -> None:
        """Tell every tracker the run ended."""
        self._each("end_run", run, outcome or RunOutcome())

    def export(self, run: TrackedRun, path: Path) -> None:
        """Tell every tracker a finished run was exported to ``path``."""
        self._each("log_export", run, Path(path))

    def callback(self, run: TrackedRun) -> list[Any]:
        """A Keras callback reporting each epoch of ``run``; none when nothing tracks."""
        if not self.active:
            return []
        import keras

        tracking = self

        class TrackEpochs(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                tracking.epoch(run, epoch, logs or {})

        return [TrackEpochs()]

    @contextmanager
    def running(self, run: TrackedRun) -> Iterator[RunOutcome]:
        """End ``run`` when the block ends: with the outcome filled in, or as failed."""
        outcome = RunOutcome()
        try:
            yield outcome
        except BaseException as exc:
            self.end(run, RunOutcome("failed", error=f"{type(exc).__name__}: {exc}"))
            raise
        self.end(run, outcome)

    def _each(self, method: str, *args: Any) -> None:
        for name, tracker in list(self.trackers):
            call = getattr(tracker, method, None)  # every method is optional
            if call is None:
                continue
            try:
                call(*args)
            except Exception as exc:
                self._switch_off(name, method, exc)

    def _switch_off(self, name: str, method: str, exc: BaseException) -> None:
        self.trackers = [(n, t) for n, t in self.trackers if n != name]
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        self.failed[name] = reason
        warnings.warn(f"Tracker `{name}` failed in {method} and is switched off; the run goes "
                      f"on. Reason: {reason}", TrackerWarning, stacklevel=3)


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
                                     if p.parent == Path(directory)]
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
        score = row.get("score")
        status = TRIAL_STATUS.get(str(row.get("status")).upper(), "failed")
        model = self.models.pop(str(row.get("trial")), None)
        self.tracking.end(run, RunOutcome(
            status, metrics={self.objective: float(score)} if _is_number(score) else {},
            files=[model] if model is not None else [], model=model,
            error=row.get("reason") or None if status != "finished" else None))


def start_training(tracking: Tracking, the_plan: Any, data: Any, target: Path,
                   sampler: Sampler | None = None) -> TrackedRun:
    """Tell the trackers a training run into ``target`` started."""
    if not tracking.active:
        return tracking.start("train", Path(target).name)
    return tracking.start(
        "train", Path(target).name, decl=the_plan.declaration,
        hyperparameters=chosen_hyperparameters(the_plan.source, sampler), data=data,
        run_dir=Path(target), versions=versions_of(the_plan))


def finish_training(outcome: RunOutcome, run: Any) -> None:
    """Fill a training run's outcome from its :class:`~kerakit.runs.train.Run`."""
    outcome.metrics = dict(run.metrics)
    outcome.files = run_files(run.dir)
    model = Path(run.dir) / "model.keras"
    outcome.model = model if model.exists() else None


def log_export(run: Any, path: str | Path) -> None:
    """Tell the trackers of a finished training run that it was exported to ``path``."""
    pair = getattr(run, "tracking", None)
    if pair is not None:
        tracking, tracked = pair
        tracking.export(tracked, Path(path))


def versions_of(plan: Any) -> dict[str, str]:
    """kerakit's version and that of each plugin the plan's components come from."""
    from kerakit._version import __version__

    found = {"kerakit": __version__}
    for used in plan.components_used():
        if used["plugin"] != "kerakit" and used.get("version"):
            found[used["distribution"] or used["plugin"]] = str(used["version"])
    return found


def chosen_hyperparameters(source: Model, sampler: Sampler | None = None) -> dict[str, Any]:
    """The value each placeholder of ``source`` takes under ``sampler`` (the defaults if none)."""
    recorder = _Recorder(sampler or Sampler())
    walk(source, recorder)
    return recorder.values


class _Recorder(Sampler):
    def __init__(self, inner: Sampler) -> None:
        self.inner, self.values = inner, {}

    def value(self, name: str, placeholder: Any) -> Any:
        self.values[name] = self.inner.value(name, placeholder)
        return self.values[name]

    def scope(self, name: str, label: str) -> Any:
        return self.inner.scope(name, label)


def data_fingerprint(data: Any) -> str | None:
    """A short SHA-256 of a dataset's arrays; ``None`` for streamed data.

    Example:
        >>> import numpy as np
        >>> from kerakit.data import split
        >>> ds = split(np.zeros((20, 2)), np.arange(20) % 2, name="zeros")
        >>> len(data_fingerprint(ds))
        16
    """
    if not isinstance(data, Dataset):
        return None
    import numpy as np

    digest = hashlib.sha256()
    for array in (data.x_train, data.y_train, data.x_val, data.y_val, data.x_test, data.y_test):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def run_files(directory: Path) -> list[Path]:
    """Every file of a run directory, sorted."""
    directory = Path(directory)
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.is_dir() else []


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
