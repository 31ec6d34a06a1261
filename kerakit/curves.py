"""Reading training curves: the best epoch and where overfitting began.

Pure functions on a Keras history dict, shared by the built-in overfitting
callback and the run reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["best_epoch", "direction", "divergence_epoch"]


def direction(metric: str) -> str:
    """``"min"`` for losses and errors, ``"max"`` otherwise: which way a metric improves.

    Example:
        >>> direction("val_loss"), direction("val_accuracy"), direction("val_auc")
        ('min', 'max', 'max')

    Args:
        metric: A logged metric's name.

    Returns:
        ``"min"`` or ``"max"``.
    """
    lowered = metric.lower()
    return "min" if any(w in lowered for w in ("loss", "error", "mae", "mse")) else "max"


def divergence_epoch(
    history: Mapping[str, Sequence[float]],
    patience: int = 5,
    tolerance: float = 0.1,
    window: int = 3,
) -> int | None:
    """Where overfitting began: validation loss rising for good while training loss falls.

    Both curves are smoothed with a moving average of ``window`` epochs, so
    the epoch-to-epoch noise of augmented training is not taken for a trend.
    Overfitting is detected when, for the last ``patience`` epochs, the
    smoothed validation loss has stayed more than ``tolerance`` (relative)
    above its minimum, while the smoothed training loss has stayed below its
    value at that minimum. A later new minimum cancels an earlier rise.

    Returns:
        The 0-based epoch of the validation minimum where the curves part, or ``None``.
    """
    val, train = history.get("val_loss"), history.get("loss")
    if not val or not train or len(val) < window + patience:
        return None
    kernel = np.ones(window) / window
    val_s = np.convolve(np.asarray(val, dtype=float), kernel, mode="valid")
    train_s = np.convolve(np.asarray(train, dtype=float), kernel, mode="valid")
    best = int(np.argmin(val_s))
    recent = range(len(val_s) - patience, len(val_s))
    if recent.start <= best:
        return None
    if all(val_s[i] > val_s[best] * (1 + tolerance) and train_s[i] < train_s[best]
           for i in recent):
        return best + window // 2  # a smoothed point covers `window` epochs; take its centre
    return None


def best_epoch(history: Mapping[str, Sequence[float]]) -> int | None:
    """0-based epoch with the lowest validation loss (training loss if no validation)."""
    values = history.get("val_loss") or history.get("loss")
    return int(np.argmin(values)) if values else None
