"""Tabular preprocessors: log1p, quantile clipping and imputation, adapted on training data."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops


def _batches(data: Any) -> list[np.ndarray]:
    if hasattr(data, "as_numpy_iterator"):
        return [np.asarray(b, dtype="float64") for b in data.as_numpy_iterator()]
    return [np.asarray(data, dtype="float64")]


@keras.saving.register_keras_serializable(package="kerakit_tabular")
class Log1p(keras.layers.Layer):
    """Signed log transform ``sign(x) * log(1 + |x|)`` for skewed features."""

    def call(self, inputs: Any) -> Any:
        x = ops.cast(inputs, self.compute_dtype)
        return ops.sign(x) * ops.log1p(ops.abs(x))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape


class _PerFeature(keras.layers.Layer):
    """Base: per-feature statistics learned in ``adapt``, kept as weights."""

    stats: tuple[str, ...] = ()

    def build(self, input_shape: tuple) -> None:
        for name in self.stats:
            setattr(self, name, self.add_weight(name=name, shape=(int(input_shape[-1]),),
                                                initializer="zeros", trainable=False))

    def adapt(self, data: Any) -> None:
        x = np.concatenate([b.reshape(-1, b.shape[-1]) for b in _batches(data)])
        if not self.built:
            self.build((None, x.shape[-1]))
        for name, value in zip(self.stats, self.compute_stats(x), strict=True):
            getattr(self, name).assign(np.asarray(value, dtype="float32"))

    def compute_stats(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        raise NotImplementedError

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape


@keras.saving.register_keras_serializable(package="kerakit_tabular")
class QuantileClip(_PerFeature):
    """Clip each feature to its [lower, upper] quantiles on the training split.

    Args:
        lower: Lower quantile, in [0, 1).
        upper: Upper quantile, in (lower, 1].
    """

    stats = ("low", "high")

    def __init__(self, lower: float = 0.01, upper: float = 0.99, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= lower < upper <= 1.0:
            raise ValueError("Invalid quantiles. Expected 0 <= lower < upper <= 1. "
                             f"Received: lower={lower}, upper={upper}")
        self.lower, self.upper = lower, upper

    def compute_stats(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        return np.nanquantile(x, self.lower, axis=0), np.nanquantile(x, self.upper, axis=0)

    def call(self, inputs: Any) -> Any:
        return ops.clip(ops.cast(inputs, self.compute_dtype), self.low, self.high)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "lower": self.lower, "upper": self.upper}


@keras.saving.register_keras_serializable(package="kerakit_tabular")
class Impute(_PerFeature):
    """Replace missing values (NaN) with each feature's training mean or median.

    Args:
        strategy: ``"mean"`` or ``"median"``.
    """

    stats = ("fill",)
    accepts_missing = True

    def __init__(self, strategy: str = "median", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if strategy not in ("mean", "median"):
            raise ValueError("Invalid value for argument `strategy`. Expected 'mean' or "
                             f"'median'. Received: strategy={strategy!r}")
        self.strategy = strategy

    def compute_stats(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        fill = np.nanmean(x, axis=0) if self.strategy == "mean" else np.nanmedian(x, axis=0)
        return (np.nan_to_num(fill),)

    def call(self, inputs: Any) -> Any:
        x = ops.cast(inputs, self.compute_dtype)
        return ops.where(ops.isnan(x), ops.broadcast_to(self.fill, ops.shape(x)), x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "strategy": self.strategy}
