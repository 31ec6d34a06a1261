"""Backups for resuming a crashed run, at a bounded cost per epoch, never torn.

A backup is two files in the partial run directory's ``backup/`` folder: the
weights (model and optimizer) as ``epoch-<N>.weights.h5``, and ``state.json``
naming that file with the number of finished epochs and the history so far;
a run that keeps its best epoch also saves that epoch's weights
(``best-<N>.npz``), so a resumed run keeps them.
Each is written to a temporary file, flushed to disk and renamed into place,
the weights first, so ``state.json`` always names a complete weights file.
A backup that cannot be read (a crash of the disk, a hand edit) is treated as
absent, with a warning: the run starts afresh instead of failing. Temporary
files left by a killed process are removed when the backup is restored.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kerakit.fileops import atomic_path, remove_stale_temps, write_atomic

__all__ = ["Resume", "TrainingBackup", "read_backup"]

STATE = "state.json"


@dataclass
class Resume:
    """Where a restored run stands.

    Attributes:
        epoch: Epochs finished before the crash; training continues with this
            0-based epoch (``initial_epoch`` of ``fit``).
        history: The per-epoch values of those epochs.
        stopped: Whether training had already stopped early (nothing is left to run).
        best: The kept best epoch (``monitor``, ``epoch``, ``value``, ``weights``
            file), for a run that keeps its best epoch.
    """

    epoch: int
    history: dict[str, list[float]] = field(default_factory=dict)
    stopped: bool = False
    best: dict[str, Any] | None = None


class TrainingBackup(keras.callbacks.Callback):
    """Save weights and history at most once every ``interval`` seconds.

    Saving the weights every epoch costs a fixed few tens of milliseconds,
    which on small models is a tenth of an epoch. Saving on a clock bounds
    both the cost and what a crash can lose: at most ``interval`` seconds of
    training. ``interval=0`` saves every epoch.

    Restoring happens before ``fit``: :meth:`restore` loads the weights and
    returns the epoch to pass as ``initial_epoch``, so epochs keep their true
    numbers.

    Example:
        >>> backup = TrainingBackup("/tmp/run/.partial/backup", interval=0)

    Args:
        directory: Where the backup lives (inside the partial run directory).
        interval: Minimum seconds between two saves.
        keep_best: The run's :class:`~kerakit.runs.keep_best.KeepBest`, whose
            best epoch and weights are saved and restored with the rest; it
            must come before the backup in the callbacks, to have seen the epoch.
    """

    def __init__(self, directory: str | Path, interval: float = 30.0,
                 keep_best: Any = None) -> None:
        super().__init__()
        self.keep_best = keep_best
        self.directory = Path(directory)
        self.interval = float(interval)
        self.history: dict[str, list[float]] = {}
        self.initial_epoch = 0
        self.stopped = False
        self.replay_to: list[Any] = []
        self._last_save = 0.0

    def restore(self, model: Any) -> Resume | None:
        """Load the last backup into ``model`` (compiled, not yet trained); None if none.

        Raises:
            Nothing for a bad backup: it is reported with a warning and ignored.
        """
        remove_stale_temps(self.directory)  # a killed process's half-written files
        found = read_backup(self.directory)
        if found is None:
            return None
        resume, weights = found
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            optimizer.build(model.trainable_variables)  # so its slots load too
        variables = [*model.weights, *(optimizer.variables if optimizer is not None else [])]
        before = [keras.ops.convert_to_numpy(v) for v in variables]
        try:
            model.load_weights(weights)
        except Exception as exc:  # any reader error: a torn or foreign file
            for variable, value in zip(variables, before, strict=True):
                variable.assign(value)  # a load that failed half-way leaves nothing behind
            warnings.warn(f"Ignoring the training backup {str(weights)!r}: it could not be "
                          f"loaded ({type(exc).__name__}: {exc}). Training starts afresh.",
                          RuntimeWarning, stacklevel=2)
            return None
        self.history = {k: list(v) for k, v in resume.history.items()}
        self.initial_epoch, self.stopped = resume.epoch, resume.stopped
        if self.keep_best is not None and resume.best:
            with np.load(self.directory / resume.best["weights"], allow_pickle=False) as saved:
                self.keep_best.resume(resume.best, [saved[f"arr_{i}"]
                                                    for i in range(len(saved.files))])
        return resume

    def on_train_begin(self, logs: dict | None = None) -> None:
        # Callbacks that judge the whole curve (early stopping, overfitting) were reset by
        # their own on_train_begin, which ran before this one: show them the restored epochs.
        for callback in self.replay_to:
            for epoch in range(self.initial_epoch):
                callback.on_epoch_end(epoch, {k: v[epoch] for k, v in self.history.items()})
        self._last_save = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        if time.monotonic() - self._last_save >= self.interval:
            self.save(epoch + 1)
            self._last_save = time.monotonic()

    def save(self, epochs_done: int) -> None:
        """Write a backup of the model after ``epochs_done`` epochs."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"epoch-{epochs_done}.weights.h5"
        with atomic_path(self.directory / name) as tmp:
            self.model.save_weights(tmp)
        state = {"epoch": epochs_done, "weights": name, "history": self.history,
                 "stopped": bool(getattr(self.model, "stop_training", False)),
                 "best": self._save_best()}
        write_atomic(self.directory / STATE, json.dumps(state))
        kept = {name, (state["best"] or {}).get("weights")}
        for old in [*self.directory.glob("*.weights.h5"), *self.directory.glob("best-*.npz")]:
            if old.name not in kept:  # the state now names the new ones
                old.unlink(missing_ok=True)

    def _save_best(self) -> dict[str, Any] | None:
        """The kept best epoch's weights, written once per new best; its state entry."""
        keep = self.keep_best
        if keep is None or keep.best_weights is None:
            return None
        name = f"best-{keep.best_epoch}.npz"
        if not (self.directory / name).is_file():
            with atomic_path(self.directory / name) as tmp:
                np.savez(tmp, *keep.best_weights)
        return {**keep.state(), "weights": name}

    def get_config(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "interval": self.interval}


def read_backup(directory: Path) -> tuple[Resume, Path] | None:
    """The backup's state and weights file, or None (with a warning) if absent or unreadable."""
    state_file = directory / STATE
    if not state_file.is_file():
        return None
    try:
        state = json.loads(state_file.read_text())
        epoch = state["epoch"]
        weights = directory / state["weights"]
        history = state["history"]
        best = state.get("best")
        best_file = directory / best["weights"] if best is not None else weights
        valid = (isinstance(epoch, int) and epoch >= 0 and isinstance(history, dict)
                 and all(isinstance(v, list) and len(v) == epoch for v in history.values())
                 and weights.parent == directory and weights.is_file()
                 and best_file.parent == directory and best_file.is_file())
        if not valid:
            raise ValueError("its fields do not agree")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        warnings.warn(f"Ignoring the training backup in {str(directory)!r}: {STATE} is "
                      f"unreadable ({exc}). Training starts afresh.", RuntimeWarning,
                      stacklevel=3)
        return None
    history = {k: [float(x) for x in v] for k, v in history.items()}
    return Resume(epoch, history, bool(state.get("stopped", False)), best), weights
