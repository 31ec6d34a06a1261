"""Built-in model blocks: dense, conv and residual conv, plus Keras' simple layers.

The composite blocks are Keras layers made of sub-layers, so a model shows one
layer per block and saves, reloads and exports like any Keras model.
"""

from __future__ import annotations

from typing import Any

import keras

from kerakit.base import CompositeLayer, build_in_sequence
from kerakit.errors import UsageError

_POOLS = {"max": keras.layers.MaxPooling2D, "avg": keras.layers.AveragePooling2D}


def regularizer(l1: float, l2: float, default: Any = None) -> Any:
    """An L1/L2 regularizer when either factor is set, else ``default``."""
    if l1 or l2:
        return keras.regularizers.L1L2(l1=l1, l2=l2)
    return keras.regularizers.get(default)


def _kernel_config(block: Any) -> dict[str, Any]:
    """The L1/L2 factors and kernel initializer / regularizer of a block, for get_config."""
    explicit = block.kernel_regularizer is not None and not (block.l1 or block.l2)
    return {
        "l1": block.l1,
        "l2": block.l2,
        "kernel_initializer": keras.initializers.serialize(block.kernel_initializer),
        "kernel_regularizer": keras.regularizers.serialize(block.kernel_regularizer)
        if explicit else None,
    }


@keras.saving.register_keras_serializable(package="kerakit")
class DenseBlock(CompositeLayer):
    """Dense layer with optional batch-norm, activation, dropout and L1/L2.

    Example:
        >>> block = DenseBlock(units=32, dropout=0.2, l2=1e-4)

    Args:
        units: Output width.
        activation: Keras activation name.
        dropout: Dropout rate after the activation (0 for none).
        batch_norm: Batch-normalise before the activation.
        l1: L1 factor on the kernel.
        l2: L2 factor on the kernel.
        kernel_initializer: Initializer name or config.
        kernel_regularizer: Used when ``l1`` and ``l2`` are both 0.
    """

    def __init__(
        self,
        units: int = 64,
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
        l1: float = 0.0,
        l2: float = 0.0,
        kernel_initializer: Any = "glorot_uniform",
        kernel_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units, self.activation, self.dropout = units, activation, dropout
        self.batch_norm, self.l1, self.l2 = batch_norm, l1, l2
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizer(l1, l2, kernel_regularizer)
        self.dense = keras.layers.Dense(
            units,
            use_bias=not batch_norm,
            kernel_initializer=self.kernel_initializer,
            kernel_regularizer=self.kernel_regularizer,
            name="dense",
        )
        self.norm = keras.layers.BatchNormalization(name="batch_norm") if batch_norm else None
        self.act = keras.layers.Activation(activation, name="activation")
        self.drop = keras.layers.Dropout(dropout, name="dropout") if dropout else None

    def _sequence(self) -> list[keras.layers.Layer]:
        return [x for x in (self.dense, self.norm, self.act, self.drop) if x is not None]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            "dropout": self.dropout,
            "batch_norm": self.batch_norm,
            **_kernel_config(self),
        }


@keras.saving.register_keras_serializable(package="kerakit")
class ConvBlock(CompositeLayer):
    """One or more 2-D convolutions, each with batch-norm and activation, then pooling.

    Example:
        >>> block = ConvBlock(filters=32, convs=2, pool="max")

    Args:
        filters: Output channels.
        kernel_size: Convolution window.
        convs: How many convolutions in a row.
        strides: Stride of the first convolution.
        activation: Keras activation name.
        batch_norm: Batch-normalise after each convolution.
        pool: ``"max"``, ``"avg"`` or ``None`` for no pooling.
        pool_size: Pooling window.
        dropout: Dropout rate at the end (0 for none).
        l1: L1 factor on the kernels.
        l2: L2 factor on the kernels.
        kernel_initializer: Initializer name or config.
        kernel_regularizer: Used when ``l1`` and ``l2`` are both 0.
    """

    def __init__(
        self,
        filters: int = 32,
        kernel_size: int = 3,
        convs: int = 1,
        strides: int = 1,
        activation: str = "relu",
        batch_norm: bool = True,
        pool: str | None = "max",
        pool_size: int = 2,
        dropout: float = 0.0,
        l1: float = 0.0,
        l2: float = 0.0,
        kernel_initializer: Any = "he_normal",
        kernel_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if pool not in (None, *_POOLS):
            raise UsageError(
                f"Invalid value for argument `pool`. Expected one of: 'max', 'avg', None. "
                f"Received: pool={pool!r}"
            )
        self.filters, self.kernel_size, self.convs = filters, kernel_size, convs
        self.strides, self.activation, self.batch_norm = strides, activation, batch_norm
        self.pool, self.pool_size = pool, pool_size
        self.dropout, self.l1, self.l2 = dropout, l1, l2
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = regularizer(l1, l2, kernel_regularizer)
        self.layers_: list[keras.layers.Layer] = []
        for i in range(convs):
            self.layers_.append(
                keras.layers.Conv2D(
                    filters,
                    kernel_size,
                    strides=strides if i == 0 else 1,
                    padding="same",
                    use_bias=not batch_norm,
                    kernel_initializer=self.kernel_initializer,
                    kernel_regularizer=self.kernel_regularizer,
                    name=f"conv{i}",
                )
            )
            if batch_norm:
                self.layers_.append(keras.layers.BatchNormalization(name=f"batch_norm{i}"))
            self.layers_.append(keras.layers.Activation(activation, name=f"activation{i}"))
        if pool:
            self.layers_.append(_POOLS[pool](pool_size, padding="same", name="pool"))
        if dropout:
            self.layers_.append(keras.layers.Dropout(dropout, name="dropout"))

    def _sequence(self) -> list[keras.layers.Layer]:
        return self.layers_

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "convs": self.convs,
            "strides": self.strides,
            "activation": self.activation,
            "batch_norm": self.batch_norm,
            "pool": self.pool,
            "pool_size": self.pool_size,
            "dropout": self.dropout,
            **_kernel_config(self),
        }


@keras.saving.register_keras_serializable(package="kerakit")
class ResidualConvBlock(keras.layers.Layer):
    """Two 3x3 convolutions with batch-norm and a skip connection (ResNet basic block).

    The skip is projected with a 1x1 convolution when the shape changes.

    Example:
        >>> block = ResidualConvBlock(filters=64, strides=2)

    Args:
        filters: Output channels.
        kernel_size: Convolution window.
        strides: Stride of the first convolution (2 halves the resolution).
        activation: Keras activation name.
        l2: L2 factor on the kernels.
        kernel_initializer: Initializer name or config.
    """

    def __init__(
        self,
        filters: int = 32,
        kernel_size: int = 3,
        strides: int = 1,
        activation: str = "relu",
        l2: float = 0.0,
        kernel_initializer: Any = "he_normal",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.strides = filters, kernel_size, strides
        self.activation, self.l2 = activation, l2
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        reg = regularizer(0.0, l2)

        def conv(name: str, size: int, stride: int) -> keras.layers.Conv2D:
            return keras.layers.Conv2D(
                filters, size, strides=stride, padding="same", use_bias=False,
                kernel_initializer=self.kernel_initializer, kernel_regularizer=reg, name=name,
            )

        self.conv1 = conv("conv1", kernel_size, strides)
        self.norm1 = keras.layers.BatchNormalization(name="batch_norm1")
        self.conv2 = conv("conv2", kernel_size, 1)
        self.norm2 = keras.layers.BatchNormalization(name="batch_norm2")
        self.project = conv("project", 1, strides)
        self.project_norm = keras.layers.BatchNormalization(name="project_norm")
        self.act = keras.layers.Activation(activation, name="activation")
        self.needs_projection = True

    def build(self, input_shape: tuple) -> None:
        self.needs_projection = self.strides != 1 or input_shape[-1] != self.filters
        shape = build_in_sequence([self.conv1, self.norm1, self.act], input_shape)
        build_in_sequence([self.conv2, self.norm2], shape)
        if self.needs_projection:
            build_in_sequence([self.project, self.project_norm], input_shape)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x = self.act(self.norm1(self.conv1(inputs), training=training))
        x = self.norm2(self.conv2(x), training=training)
        skip = inputs
        if self.needs_projection:
            skip = self.project_norm(self.project(inputs), training=training)
        return self.act(x + skip)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(self.conv1.compute_output_shape(input_shape))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "activation": self.activation,
            "l2": self.l2,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


CATALOGUE = {
    "dense_block": DenseBlock,
    "conv_block": ConvBlock,
    "residual_conv_block": ResidualConvBlock,
    "flatten": keras.layers.Flatten,
    "global_avg_pool": keras.layers.GlobalAveragePooling2D,
    "global_max_pool": keras.layers.GlobalMaxPooling2D,
    "dropout": (keras.layers.Dropout, {"defaults": {"rate": 0.2}}),
}
