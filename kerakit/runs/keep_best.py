"""Keep the best epoch: a run ends with the weights of its best validation epoch.

A run that overfits after its best epoch would otherwise be evaluated, saved
and exported with its last weights. :class:`KeepBest` remembers the weights
of the best epoch by the run's monitored quantity and puts them back when
training ends, before anything is evaluated or written. It is on for every
run with validation data unless the declaration says ``keep_best=False``.
"""

from __future__ import annotations

import math
from typing import Any

import keras

from kerakit.curves import direction

__all__ = ["KeepBest", "monitor_of"]


class KeepBest(keras.callbacks.Callback):
    """Remember the best epoch's weights; restore them when training ends.

    Example:
        >>> keep = KeepBest("val_loss")
        >>> keep.mode
        'min'

    Args:
        monitor: The logged quantity that decides, e.g. ``"val_loss"`` or
            ``"val_accuracy"``; higher is better for accuracies and AUC,
            lower for losses and errors.

    Attributes:
        best_epoch: 0-based epoch of the best value so far, or ``None``.
        best: That value.
        best_weights: The model's weights after that epoch (in memory).
    """

    def __init__(self, monitor: str = "val_loss") -> None:
        super().__init__()
        self.monitor = monitor
        self.mode = direction(monitor)
        self.best_epoch: int | None = None
        self.best: float | None = None
        self.best_weights: list[Any] | None = None

    def improves(self, value: float) -> bool:
        """Whether ``value`` beats the best so far (NaN never does)."""
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is not None and self.improves(float(value)):
            self.best, self.best_epoch = float(value), epoch
            self.best_weights = self.model.get_weights()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)

    def state(self) -> dict[str, Any]:
        """The best epoch and value, for a backup (the weights are saved beside it)."""
        return {"monitor": self.monitor, "epoch": self.best_epoch, "value": self.best}

    def resume(self, state: dict[str, Any], weights: list[Any]) -> None:
        """Take back a backup's best epoch, value and weights.

        A backup made for another monitored quantity is ignored.
        """
        if state.get("monitor") != self.monitor or state.get("epoch") is None:
            return
        self.best_epoch, self.best = int(state["epoch"]), float(state["value"])
        self.best_weights = weights

    def get_config(self) -> dict[str, Any]:
        return {"monitor": self.monitor}


def monitor_of(callbacks: list[Any], default: str = "val_loss") -> str:
    """What the run watches: an early-stopping callback's monitor, else ``default``.

    Keeping the epoch that early stopping would restore makes the two agree.
    """
    for callback in callbacks:
        if isinstance(callback, keras.callbacks.EarlyStopping):
            return str(callback.monitor)
    return default
