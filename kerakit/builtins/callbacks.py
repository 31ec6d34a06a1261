"""Built-in callbacks: stopping rules, learning-rate schedules and logging.

Keras' own callbacks are registered with defaults suited to kerakit runs;
factories taking ``run_dir`` write inside the run directory. None of them does
per-batch work.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import keras

from kerakit.base import EpochSchedule
from kerakit.curves import divergence_epoch
from kerakit.errors import UsageError

# -------------------------------------------------------------------------
# Stopping and overfitting
# -------------------------------------------------------------------------


def early_stopping(
    monitor: str = "val_loss",
    patience: int = 10,
    min_delta: float = 0.0,
    restore_best_weights: bool = True,
    start_from_epoch: int = 0,
) -> keras.callbacks.EarlyStopping:
    """Early stopping on validation, restoring the best weights."""
    return keras.callbacks.EarlyStopping(
        monitor=monitor,
        patience=patience,
        min_delta=min_delta,
        restore_best_weights=restore_best_weights,
        start_from_epoch=start_from_epoch,
    )


class ConvergenceStop(keras.callbacks.Callback):
    """Stop when the loss falls below a threshold or stops improving by ``min_delta``.

    It also stops a run whose monitored loss became NaN or infinite.

    Example:
        >>> stop = ConvergenceStop(threshold=0.01)

    Args:
        monitor: The logged quantity, e.g. ``"loss"`` or ``"val_loss"``.
        threshold: Stop as soon as the monitored value is below it (``None``: off).
        min_delta: Stop when the best value improved by less than this over the
            last ``patience`` epochs.
        patience: Window, in epochs, for ``min_delta``.
    """

    def __init__(
        self,
        monitor: str = "loss",
        threshold: float | None = None,
        min_delta: float = 1e-4,
        patience: int = 5,
    ) -> None:
        super().__init__()
        if patience < 1:
            raise UsageError(
                f"Invalid value for argument `patience`. Expected an int >= 1. "
                f"Received: patience={patience!r}"
            )
        self.monitor, self.threshold = monitor, threshold
        self.min_delta, self.patience = min_delta, patience
        self.values: list[float] = []
        self.stopped_epoch: int | None = None
        self.reason: str | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.values, self.stopped_epoch, self.reason = [], None, None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        self.values.append(float(value))
        if not math.isfinite(value):
            self.reason = f"{self.monitor} is {value}: training diverged"
        elif self.threshold is not None and value < self.threshold:
            self.reason = f"{self.monitor}={value:.4g} fell below threshold {self.threshold}"
        elif len(self.values) > self.patience:
            before = min(self.values[: -self.patience])
            recent = min(self.values[-self.patience :])
            if before - recent < self.min_delta:
                self.reason = (
                    f"{self.monitor} improved by less than {self.min_delta} "
                    f"over {self.patience} epochs"
                )
        if self.reason:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def get_config(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "threshold": self.threshold,
            "min_delta": self.min_delta,
            "patience": self.patience,
        }


class OverfittingMonitor(keras.callbacks.Callback):
    """Detect overfitting: validation loss rising while training loss falls.

    Uses :func:`kerakit.curves.divergence_epoch` on the curves so far. When it
    finds a divergence, the epoch is kept in ``diverged_epoch`` and reported,
    and training stops if ``stop`` is true.

    Example:
        >>> monitor = OverfittingMonitor(patience=5, stop=True)

    Args:
        patience: Consecutive epochs of divergence before it counts.
        tolerance: Relative rise of the (smoothed) validation loss that counts.
        stop: Stop training when overfitting is detected.
    """

    def __init__(self, patience: int = 5, tolerance: float = 0.1, stop: bool = False) -> None:
        super().__init__()
        self.patience, self.tolerance, self.stop = patience, tolerance, stop
        self.diverged_epoch: int | None = None
        self.stopped_epoch: int | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.curves: dict[str, list[float]] = {"loss": [], "val_loss": []}
        self.diverged_epoch = self.stopped_epoch = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if "loss" not in logs or "val_loss" not in logs:
            return
        self.curves["loss"].append(float(logs["loss"]))
        self.curves["val_loss"].append(float(logs["val_loss"]))
        found = divergence_epoch(self.curves, self.patience, self.tolerance)
        first = found is not None and self.diverged_epoch is None
        self.diverged_epoch = found  # a new validation minimum cancels an earlier rise
        if not first:
            return
        print(f"\nOverfitting detected: validation loss has risen since epoch {found + 1} "
              "while training loss fell.")
        if self.stop:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def get_config(self) -> dict[str, Any]:
        return {"patience": self.patience, "tolerance": self.tolerance, "stop": self.stop}


def reduce_lr_on_plateau(
    monitor: str = "val_loss",
    factor: float = 0.5,
    patience: int = 5,
    min_lr: float = 1e-6,
) -> keras.callbacks.ReduceLROnPlateau:
    """Halve the learning rate when the validation loss plateaus."""
    return keras.callbacks.ReduceLROnPlateau(
        monitor=monitor, factor=factor, patience=patience, min_lr=min_lr
    )


def terminate_on_nan() -> keras.callbacks.TerminateOnNaN:
    """Stop training as soon as the loss is NaN or infinite."""
    return keras.callbacks.TerminateOnNaN()


# -------------------------------------------------------------------------
# Learning-rate schedules (per epoch)
# -------------------------------------------------------------------------


class StepDecay(EpochSchedule):
    """Multiply the learning rate by ``factor`` every ``step`` epochs.

    Args:
        factor: Multiplier applied at each step.
        step: Epochs between steps.
    """

    def __init__(self, factor: float = 0.5, step: int = 10) -> None:
        super().__init__()
        self.factor, self.step = factor, step

    def rate(self, epoch: int, base: float) -> float:
        return base * self.factor ** (epoch // self.step)

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor, "step": self.step}


class ExponentialDecay(EpochSchedule):
    """Multiply the learning rate by ``decay`` every epoch.

    Args:
        decay: Per-epoch multiplier, in (0, 1].
    """

    def __init__(self, decay: float = 0.95) -> None:
        super().__init__()
        self.decay = decay

    def rate(self, epoch: int, base: float) -> float:
        return base * self.decay**epoch

    def get_config(self) -> dict[str, Any]:
        return {"decay": self.decay}


class CosineDecay(EpochSchedule):
    """Cosine decay from the initial rate to ``min_rate`` over ``epochs``.

    Args:
        epochs: Length of the decay, in epochs.
        min_rate: Final learning rate.
    """

    def __init__(self, epochs: int = 50, min_rate: float = 0.0) -> None:
        super().__init__()
        self.epochs, self.min_rate = epochs, min_rate

    def rate(self, epoch: int, base: float) -> float:
        progress = min(epoch / max(self.epochs, 1), 1.0)
        return self.min_rate + 0.5 * (base - self.min_rate) * (1 + math.cos(math.pi * progress))

    def get_config(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "min_rate": self.min_rate}


class LinearWarmup(EpochSchedule):
    """Ramp the learning rate linearly up to its initial value over ``epochs``.

    Args:
        epochs: Warm-up length; afterwards the rate stays at its initial value.
    """

    def __init__(self, epochs: int = 5) -> None:
        super().__init__()
        self.epochs = epochs

    def rate(self, epoch: int, base: float) -> float:
        return base * min(1.0, (epoch + 1) / max(self.epochs, 1))

    def get_config(self) -> dict[str, Any]:
        return {"epochs": self.epochs}


# -------------------------------------------------------------------------
# Files in the run directory
# -------------------------------------------------------------------------


def model_checkpoint(
    run_dir: str, monitor: str = "val_loss", save_best_only: bool = True
) -> keras.callbacks.ModelCheckpoint:
    """Save the best model so far to ``checkpoints/best.keras`` in the run directory."""
    path = Path(run_dir) / "checkpoints" / "best.keras"
    path.parent.mkdir(parents=True, exist_ok=True)
    return keras.callbacks.ModelCheckpoint(
        str(path), monitor=monitor, save_best_only=save_best_only
    )


def backup_and_restore(run_dir: str) -> keras.callbacks.BackupAndRestore:
    """Back up training state each epoch, so a crashed run resumes where it stopped."""
    return keras.callbacks.BackupAndRestore(str(Path(run_dir) / "backup"))


def csv_logger(run_dir: str) -> keras.callbacks.CSVLogger:
    """Log each epoch's metrics to ``training_log.csv`` as training goes."""
    return keras.callbacks.CSVLogger(str(Path(run_dir) / "training_log.csv"), append=True)


def tensorboard(run_dir: str, histogram_freq: int = 0) -> keras.callbacks.TensorBoard:
    """Write TensorBoard logs to ``tensorboard/`` in the run directory."""
    return keras.callbacks.TensorBoard(
        str(Path(run_dir) / "tensorboard"), histogram_freq=histogram_freq
    )


CATALOGUE = {
    "early_stopping": early_stopping,
    "convergence_stop": ConvergenceStop,
    "overfitting_monitor": OverfittingMonitor,
    "reduce_lr_on_plateau": reduce_lr_on_plateau,
    "terminate_on_nan": terminate_on_nan,
    "step_decay": StepDecay,
    "exponential_decay": ExponentialDecay,
    "cosine_decay": CosineDecay,
    "linear_warmup": LinearWarmup,
    "model_checkpoint": model_checkpoint,
    "backup_and_restore": backup_and_restore,
    "csv_logger": csv_logger,
    "tensorboard": tensorboard,
}
