"""Tabular blocks, the pinball loss and an LSUV-style initializer."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="kerakit_tabular")
class ResidualMLPBlock(keras.layers.Layer):
    """Dense, dropout, dense, plus the input (projected if needed), then layer-norm.

    Args:
        units: Width of the block's output.
        hidden: Width of the inner layer (defaults to ``2 * units``).
        dropout: Dropout rate after the inner layer.
        activation: Keras activation name.
    """

    def __init__(self, units: int = 32, hidden: int | None = None, dropout: float = 0.1,
                 activation: str = "relu", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units, self.hidden, self.dropout, self.activation = units, hidden, dropout, activation
        self.inner = keras.layers.Dense(hidden or 2 * units, activation=activation, name="inner")
        self.drop = keras.layers.Dropout(dropout, name="dropout")
        self.outer = keras.layers.Dense(units, name="outer")
        self.project = keras.layers.Dense(units, use_bias=False, name="project")
        self.norm = keras.layers.LayerNormalization(name="norm")

    def build(self, input_shape: tuple) -> None:
        self.inner.build(input_shape)
        self.outer.build((*input_shape[:-1], self.hidden or 2 * self.units))
        self.project.build(input_shape)
        self.norm.build((*input_shape[:-1], self.units))

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x = self.outer(self.drop(self.inner(inputs), training=training))
        skip = inputs if inputs.shape[-1] == self.units else self.project(inputs)
        return self.norm(x + skip)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units, "hidden": self.hidden,
                "dropout": self.dropout, "activation": self.activation}


@keras.saving.register_keras_serializable(package="kerakit_tabular")
class GatingBlock(keras.layers.Layer):
    """Feature-wise gating: multiply each feature by a learned, input-dependent sigmoid gate."""

    def build(self, input_shape: tuple) -> None:
        self.gate = keras.layers.Dense(int(input_shape[-1]), activation="sigmoid", name="gate")
        self.gate.build(input_shape)

    def call(self, inputs: Any) -> Any:
        return ops.multiply(inputs, self.gate(inputs))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape


@keras.saving.register_keras_serializable(package="kerakit_tabular")
class PinballLoss(keras.losses.Loss):
    """Quantile (pinball) loss: ``max(q * e, (q - 1) * e)`` for error ``e = y - y_pred``.

    Args:
        quantile: The quantile to predict, in (0, 1); 0.5 is half the MAE.
        name: Loss name.
    """

    def __init__(self, quantile: float = 0.5, name: str = "pinball_loss", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        if not 0.0 < quantile < 1.0:
            raise ValueError(f"Invalid value for argument `quantile`. Expected a float in "
                             f"(0, 1). Received: quantile={quantile!r}")
        self.quantile = quantile

    def call(self, y_true: Any, y_pred: Any) -> Any:
        # targets shaped (n,) against outputs (n, 1) would broadcast to (n, n)
        error = ops.reshape(ops.cast(y_true, y_pred.dtype), ops.shape(y_pred)) - y_pred
        loss = ops.maximum(self.quantile * error, (self.quantile - 1.0) * error)
        return ops.mean(loss, axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "quantile": self.quantile}


@keras.saving.register_keras_serializable(package="kerakit_tabular")
class LSUV(keras.initializers.Initializer):
    """LSUV-style initializer: orthogonal weights scaled for unit output variance.

    Layer-sequential unit-variance initialisation rescales each layer's
    orthogonal weights until its outputs have unit variance on a batch of
    data. Initializers see only the weight shape, so this version uses a
    standard-normal probe batch of ``probe_size`` samples as the data: right
    for standardised inputs, which is what kerakit's ``standardize`` gives.

    Args:
        probe_size: Samples in the probe batch.
        seed: Random seed.
    """

    def __init__(self, probe_size: int = 256, seed: int | None = None) -> None:
        self.probe_size, self.seed = probe_size, seed

    def __call__(self, shape: tuple, dtype: Any = None) -> Any:
        weights = keras.ops.convert_to_numpy(
            keras.initializers.Orthogonal(seed=self.seed)(shape, dtype="float32"))
        fan_in = int(np.prod(shape[:-1]))
        rng = np.random.default_rng(self.seed)
        probe = rng.standard_normal((self.probe_size, fan_in)).astype("float32")
        out = probe @ weights.reshape(fan_in, shape[-1])
        weights = weights / max(float(out.std()), 1e-8)
        return ops.cast(ops.convert_to_tensor(weights), dtype or "float32")

    def get_config(self) -> dict[str, Any]:
        return {"probe_size": self.probe_size, "seed": self.seed}
