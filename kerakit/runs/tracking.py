"""Experiment tracking: which trackers a run uses, and telling them what happens.

Trackers are components of the kind ``trackers`` (see
:func:`kerakit.hookspecs.kerakit_trackers`), turned on by name from three
places, all of them used: ``fit(track=...)`` / ``--track NAME``, the
declaration's ``track`` field, and ``KERAKIT_TRACK=a,b``.

A :class:`Tracking` fans each event out to its trackers, each on a thread of
its own (:mod:`kerakit.runs.tracker_thread`), so a slow backend never holds
up training. A tracker that raises, or does not answer within
``KERAKIT_TRACK_TIMEOUT`` seconds, is switched off with one
:class:`~kerakit.errors.TrackerWarning` and the run goes on, like a
quarantined plugin. A resumed training run keeps its crashed run's id.
Search engines use the same small API for tuning (see
:class:`~kerakit.runs.search_tracking.SearchTracking`): :meth:`Tracking.start`
a ``"search"``, then one ``"trial"`` per trial with the search as
``parent``, :meth:`Tracking.callback` for its epochs and :meth:`Tracking.end`
with ``"finished"``, ``"failed"`` or ``"pruned"``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from kerakit.base import RunOutcome, TrackedRun, Tracker
from kerakit.data import Dataset
from kerakit.declaration.model import Model, Sampler, walk
from kerakit.errors import TrackerWarning, UsageError
from kerakit.fileops import write_atomic
from kerakit.registry.discovery import current_registry
from kerakit.registry.table import Registry
from kerakit.runs.rundir import RUN_LAYOUT, partial_dir, same_declaration
from kerakit.runs.tracker_thread import TIMEOUT, TrackerThread, timeout_setting

__all__ = ["ENV_VAR", "Tracking", "data_fingerprint", "tracker_names"]

#: Comma-separated tracker names turned on for every run of the process.
ENV_VAR = "KERAKIT_TRACK"
#: In a partial run directory: the tracked run's id, for the run that resumes it.
RUN_ID_FILE = Path(RUN_LAYOUT.backup, "tracking.json")


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
    """The trackers of one training run or search, each on a thread of its own.

    Each tracker's calls are queued to its own daemon thread, in order, so a
    slow or stalled backend never holds up training. The first call that
    raises, or runs longer than ``timeout`` seconds, switches that tracker off
    with one :class:`~kerakit.errors.TrackerWarning`. When a run (not a trial)
    ends, kerakit waits for the trackers' calls, at most ``timeout`` seconds.

    Example:
        >>> tracking = Tracking.open([])
        >>> tracking.active
        False

    Args:
        trackers: ``(name, tracker)`` pairs.
        timeout: Seconds; defaults to ``KERAKIT_TRACK_TIMEOUT``, else
            :data:`~kerakit.runs.tracker_thread.TIMEOUT`.

    Raises:
        UsageError: for a timeout that is not a positive number.
    """

    def __init__(self, trackers: Iterable[tuple[str, Tracker]] = (),
                 timeout: float | None = None) -> None:
        self.workers = [TrackerThread(name, tracker) for name, tracker in trackers]
        self.timeout = timeout_setting(timeout) if self.workers or timeout else TIMEOUT
        self.failed: dict[str, str] = {}

    @classmethod
    def open(cls, names: Iterable[str], registry: Registry | None = None) -> Tracking:
        """Create the named trackers; one that cannot be created is left out with a warning.

        Raises:
            ComponentNotFoundError: for a name no loaded plugin registers as a tracker.
            UsageError: for an invalid ``KERAKIT_TRACK_TIMEOUT``.
        """
        names = list(names)
        tracking = cls()
        if not names:
            return tracking
        registry = registry or current_registry()
        components = [registry.get("trackers", name) for name in names]  # typos fail here
        tracking.timeout = timeout_setting()
        for component in components:
            try:
                tracking.workers.append(
                    TrackerThread(component.qualified_name, component.create()))
            except Exception as exc:
                tracking._switch_off(component.qualified_name, "start", exc)
        return tracking

    @property
    def trackers(self) -> list[tuple[str, Tracker]]:
        """The ``(name, tracker)`` pairs still on."""
        return [(w.name, w.tracker) for w in self.workers]

    @property
    def active(self) -> bool:
        return bool(self.workers)

    def start(self, kind: str, name: str, *, decl: Model | None = None,
              hyperparameters: dict[str, Any] | None = None, data: Any = None,
              run_dir: Path | None = None, parent: TrackedRun | None = None,
              versions: dict[str, str] | None = None, run_id: str | None = None,
              resumed_history: dict[str, list[float]] | None = None) -> TrackedRun:
        """Tell every tracker a run started; return its :class:`~kerakit.base.TrackedRun`.

        Args:
            kind: ``"train"``, ``"search"`` or ``"trial"``.
            name: The run's name.
            decl: The resolved declaration.
            hyperparameters: The chosen values by dotted name.
            data: A ``Dataset`` (or anything with a ``name``): its name and fingerprint.
            run_dir: Where the run writes its files (made absolute).
            parent: The search run of a trial.
            versions: kerakit's and the plugins' versions; see :func:`versions_of`.
            run_id: The id of the crashed run this one resumes; a new one if ``None``.
            resumed_history: The epochs the crashed run's backup kept, by metric.
        """
        run_id = run_id or uuid.uuid4().hex
        if not self.active:  # nothing listens: skip the fingerprint and the declaration
            return TrackedRun(run_id, name, kind, parent=parent)
        run = TrackedRun(
            id=run_id, name=name, kind=kind, parent=parent,
            declaration=decl.to_dict() if decl is not None else {},
            hyperparameters=dict(hyperparameters or {}),
            data={"name": getattr(data, "name", None), "fingerprint": data_fingerprint(data)}
            if data is not None else {},
            versions=dict(versions or {}),
            run_dir=Path(run_dir).absolute() if run_dir else None,
            resumed_history=dict(resumed_history or {}))
        self._each("start_run", run)
        return run

    def epoch(self, run: TrackedRun, epoch: int, metrics: dict[str, Any]) -> None:
        """Tell every tracker an epoch ended."""
        values = {k: float(v) for k, v in (metrics or {}).items() if _is_number(v)}
        self._each("log_epoch", run, epoch, values)

    def end(self, run: TrackedRun, outcome: RunOutcome | None = None) -> None:
        """Tell every tracker the run ended; a run without a parent waits for them."""
        self._each("end_run", run, outcome or RunOutcome())
        if run.parent is None:
            self.flush()

    def export(self, run: TrackedRun, path: Path) -> None:
        """Tell every tracker a finished run was exported to ``path``, and wait for them."""
        self._each("log_export", run, Path(path))
        self.flush()

    def flush(self) -> None:
        """Wait for the trackers' queued calls: at most ``timeout`` seconds in all.

        A tracker that is not done by then, or whose call in progress has
        run for ``timeout`` seconds, is switched off with a warning.
        """
        deadline = time.monotonic() + self.timeout
        for worker in self.workers:
            if not worker.wait(deadline, self.timeout) and worker.error is None:
                worker.error = (worker.method or "end_run", TimeoutError(
                    f"its calls were not done {self.timeout:g} s after the run ended"))
        self._check()

    def callback(self, run: TrackedRun) -> list[Any]:
        """A Keras callback reporting each epoch of ``run``; none when nothing tracks."""
        if not self.active:
            return []
        import keras

        tracking = self

        class TrackEpochs(keras.callbacks.Callback):
            remembered = False

            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                tracking.epoch(run, epoch, logs or {})
                self.remembered = self.remembered or remember_run_id(run)

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
        self._check()
        for worker in list(self.workers):
            worker.submit(method, args)

    def _check(self) -> None:
        """Switch off each tracker whose call failed, stalled or fell behind since last time."""
        for worker in list(self.workers):
            problem = worker.problem(self.timeout)
            if problem is not None:
                self._switch_off(worker.name, *problem)

    def _switch_off(self, name: str, method: str, exc: BaseException) -> None:
        self.workers = [w for w in self.workers if w.name != name]
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        self.failed[name] = reason
        warnings.warn(f"Tracker `{name}` failed in {method} and is switched off; the run goes "
                      f"on. Reason: {reason}", TrackerWarning, stacklevel=4)


def start_training(tracking: Tracking, the_plan: Any, data: Any, target: Path,
                   sampler: Sampler | None = None) -> TrackedRun:
    """Tell the trackers a training run into ``target`` started (or resumed, with its id)."""
    if not tracking.active:
        return tracking.start("train", Path(target).name)
    run_id = resumed_run_id(Path(target), the_plan.declaration)
    return tracking.start(
        "train", Path(target).name, decl=the_plan.declaration,
        hyperparameters=chosen_hyperparameters(the_plan.source, sampler), data=data,
        run_dir=Path(target), versions=versions_of(the_plan), run_id=run_id,
        resumed_history=_backup_history(Path(target)) if run_id else None)


def remember_run_id(run: TrackedRun) -> bool:
    """Keep a training run's id beside its backup, for the run that resumes from it.

    Returns:
        Whether that is done, or not needed (a trial; a run without a directory).
    """
    if run.kind != "train" or run.run_dir is None:
        return True
    from kerakit.runs.backup import STATE

    kept = partial_dir(run.run_dir) / RUN_ID_FILE
    if not (kept.parent / STATE).is_file():  # no backup yet: nothing to resume from
        return False
    with suppress(OSError):  # if not, a resumed run gets a new id; this one trains on
        write_atomic(kept, json.dumps({"id": run.id}), durable=False)
    return True


def resumed_run_id(target: Path, decl: Model) -> str | None:
    """The id of the crashed run into ``target`` that this one resumes, if any.

    A run resumes when its partial directory holds the same declaration (as
    :func:`~kerakit.runs.rundir.prepare_partial` decides); it then keeps the
    crashed run's :attr:`~kerakit.base.TrackedRun.id`, so trackers can
    continue the run they started.
    """
    partial = partial_dir(target)
    if not same_declaration(partial, decl):
        return None
    try:
        found = json.loads((partial / RUN_ID_FILE).read_text()).get("id")
    except (OSError, ValueError, AttributeError):  # none, or torn by the crash
        return None
    return found if isinstance(found, str) and found.isalnum() else None


def _backup_history(target: Path) -> dict[str, list[float]]:
    """The epochs the backup of the crashed run into ``target`` kept, by metric."""
    from kerakit.runs.backup import read_backup

    with warnings.catch_warnings():  # training warns of an unreadable backup itself
        warnings.simplefilter("ignore", RuntimeWarning)
        found = read_backup(partial_dir(target) / RUN_LAYOUT.backup)
    return found[0].history if found is not None else {}


def finish_training(outcome: RunOutcome, run: Any) -> None:
    """Fill a training run's outcome from its :class:`~kerakit.runs.train.Run`."""
    outcome.metrics = dict(run.metrics)
    outcome.files = run_files(run.dir)
    model = Path(run.dir).absolute() / "model.keras"
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
        self.inner = inner
        self.values: dict[str, Any] = {}

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
    """Every file of a run directory, sorted, as absolute paths (as ``run_dir`` is)."""
    directory = Path(directory).absolute()
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.is_dir() else []


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True

