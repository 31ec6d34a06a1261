"""Built-in preprocessors: deterministic input transforms kept in exports.

Statistics-based ones (``normalize``, ``standardize``) have ``adapt(data)``;
kerakit calls it on the training split only.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from kerakit.errors import DataError


@keras.saving.register_keras_serializable(package="kerakit")
class MinMaxNormalization(keras.layers.Layer):
    """Min-max normalisation to [0, 1], with the range adapted on training data.

    Example:
        >>> layer = MinMaxNormalization()
        >>> layer.adapt(np.array([[0.0], [16.0]]))
        >>> float(layer(np.array([[8.0]]))[0, 0])
        0.5

    Args:
        axis: ``None`` for one range over all values (images), or the feature
            axis (e.g. ``-1``) for a range per feature (tables).
        epsilon: Floor on the range, so constant features do not divide by zero.
    """

    def __init__(self, axis: int | None = None, epsilon: float = 1e-7, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = epsilon
        self.adapted = False

    def _stat_shape(self, input_shape: tuple) -> tuple:
        if self.axis is None:
            return ()
        shape = [1] * len(input_shape)
        shape[self.axis] = input_shape[self.axis]
        return tuple(shape[1:])

    def build(self, input_shape: tuple) -> None:
        shape = self._stat_shape(input_shape)
        self.minimum = self.add_weight(
            name="minimum", shape=shape, initializer="zeros", trainable=False
        )
        self.maximum = self.add_weight(
            name="maximum", shape=shape, initializer="ones", trainable=False
        )

    def adapt(self, data: Any) -> None:
        """Learn the minimum and maximum of ``data`` (an array or a batched dataset)."""
        batches = data.as_numpy_iterator() if hasattr(data, "as_numpy_iterator") else [data]
        low = high = None
        for batch in batches:
            x = np.asarray(batch, dtype="float64")
            if not self.built:
                self.build((None, *x.shape[1:]))
            axes = tuple(range(x.ndim)) if self.axis is None else tuple(
                i for i in range(x.ndim) if i != x.ndim + self.axis and i != self.axis
            )
            b_low, b_high = x.min(axis=axes), x.max(axis=axes)
            low = b_low if low is None else np.minimum(low, b_low)
            high = b_high if high is None else np.maximum(high, b_high)
        if low is None:
            raise DataError("Invalid data for MinMaxNormalization.adapt. Expected at least one "
                             "sample. Received: an empty dataset")
        shape = tuple(self.minimum.shape)
        self.minimum.assign(np.reshape(low, shape).astype("float32"))
        self.maximum.assign(np.reshape(high, shape).astype("float32"))
        self.adapted = True

    def call(self, inputs: Any) -> Any:
        inputs = ops.cast(inputs, self.compute_dtype)
        span = ops.maximum(self.maximum - self.minimum, self.epsilon)
        return (inputs - self.minimum) / span

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}


CATALOGUE = {
    "normalize": MinMaxNormalization,
    "standardize": keras.layers.Normalization,
    "rescale": (keras.layers.Rescaling, {"defaults": {"scale": 1.0 / 255.0}}),
    "resize": (keras.layers.Resizing, {"example": {"height": 4, "width": 4}}),
    "center_crop": (keras.layers.CenterCrop, {"example": {"height": 4, "width": 4}}),
    "one_hot": (
        keras.layers.CategoryEncoding,
        {"defaults": {"output_mode": "one_hot"}, "example": {"num_tokens": 4}},
    ),
}
