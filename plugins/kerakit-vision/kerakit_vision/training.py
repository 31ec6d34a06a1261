"""Focal loss and a cosine learning-rate schedule with linear warm-up."""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from kerakit.base import EpochSchedule


@keras.saving.register_keras_serializable(package="kerakit_vision")
class FocalLoss(keras.losses.Loss):
    """Focal loss: cross-entropy that down-weights easy examples, for imbalanced classes.

    Takes integer labels or one-hot / soft labels and class probabilities.

    Args:
        gamma: Focusing strength; 0 is plain cross-entropy.
        alpha: Weight of the loss (a scalar).
        name: Loss name.
    """

    def __init__(self, gamma: float = 2.0, alpha: float = 1.0, name: str = "focal_loss",
                 **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.gamma, self.alpha = gamma, alpha

    def call(self, y_true: Any, y_pred: Any) -> Any:
        classes = y_pred.shape[-1]
        if len(y_true.shape) != len(y_pred.shape) or y_true.shape[-1] != classes:
            labels = ops.reshape(ops.cast(y_true, "int32"), ops.shape(y_pred)[:-1])
            y_true = ops.one_hot(labels, classes, dtype=y_pred.dtype)
        y_true = ops.cast(y_true, y_pred.dtype)
        probs = ops.clip(y_pred, 1e-7, 1.0 - 1e-7)
        weight = ops.power(1.0 - probs, self.gamma)
        return ops.sum(-self.alpha * y_true * weight * ops.log(probs), axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "gamma": self.gamma, "alpha": self.alpha}


class CosineWarmup(EpochSchedule):
    """Linear warm-up for ``warmup`` epochs, then cosine decay to ``min_rate`` at ``epochs``.

    Args:
        epochs: Total schedule length, in epochs.
        warmup: Warm-up epochs.
        min_rate: Final learning rate.
    """

    def __init__(self, epochs: int = 50, warmup: int = 5, min_rate: float = 0.0) -> None:
        super().__init__()
        self.epochs, self.warmup, self.min_rate = epochs, warmup, min_rate

    def rate(self, epoch: int, base: float) -> float:
        if epoch < self.warmup:
            return base * (epoch + 1) / self.warmup
        span = max(self.epochs - self.warmup, 1)
        progress = min((epoch - self.warmup) / span, 1.0)
        return self.min_rate + 0.5 * (base - self.min_rate) * (1 + math.cos(math.pi * progress))

    def get_config(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "warmup": self.warmup, "min_rate": self.min_rate}
