"""Built-in losses: Keras' own, plus sparse cross-entropy with label smoothing."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerakit.errors import UsageError


@keras.saving.register_keras_serializable(package="kerakit")
class SparseCategoricalCrossentropy(keras.losses.Loss):
    """Cross-entropy for integer labels, with optional label smoothing.

    Keras' own sparse cross-entropy has no label smoothing; this one one-hot
    encodes the labels on the fly when smoothing is asked for. It also takes
    one-hot or soft labels (as MixUp and CutMix make) and then computes
    categorical cross-entropy.

    Example:
        >>> loss = SparseCategoricalCrossentropy(label_smoothing=0.1)

    Args:
        from_logits: Whether predictions are logits rather than probabilities.
        label_smoothing: In [0, 1); 0 is plain cross-entropy.
        reduction: Keras loss reduction.
        name: Loss name.
    """

    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        reduction: str = "sum_over_batch_size",
        name: str = "sparse_categorical_crossentropy",
        **kwargs: Any,
    ) -> None:
        if not 0.0 <= label_smoothing < 1.0:
            raise UsageError(
                "Invalid value for argument `label_smoothing`. Expected a float in [0, 1). "
                f"Received: label_smoothing={label_smoothing!r}"
            )
        super().__init__(name=name, reduction=reduction, **kwargs)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing

    def call(self, y_true: Any, y_pred: Any) -> Any:
        if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == y_pred.shape[-1] \
                and y_pred.shape[-1] != 1:
            # soft or one-hot labels, as batch-level augmentations (MixUp) produce
            return keras.losses.categorical_crossentropy(
                y_true, y_pred, from_logits=self.from_logits,
                label_smoothing=self.label_smoothing)
        if not self.label_smoothing:
            return keras.losses.sparse_categorical_crossentropy(
                y_true, y_pred, from_logits=self.from_logits
            )
        classes = ops.shape(y_pred)[-1]
        labels = ops.reshape(ops.cast(y_true, "int32"), ops.shape(y_pred)[:-1])
        one_hot = ops.one_hot(labels, classes, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, from_logits=self.from_logits, label_smoothing=self.label_smoothing
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
        }


CATALOGUE = {
    "mse": keras.losses.MeanSquaredError,
    "mae": keras.losses.MeanAbsoluteError,
    "huber": keras.losses.Huber,
    "binary_crossentropy": keras.losses.BinaryCrossentropy,
    "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
