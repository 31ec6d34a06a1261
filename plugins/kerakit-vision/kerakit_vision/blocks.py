"""Vision blocks: squeeze-and-excitation, ResNet bottleneck, depthwise-separable conv."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from kerakit.base import build_in_sequence


@keras.saving.register_keras_serializable(package="kerakit_vision")
class SqueezeExcite(keras.layers.Layer):
    """Squeeze-and-excitation: reweight channels by their global context.

    Args:
        ratio: Channel reduction in the bottleneck.
    """

    def __init__(self, ratio: int = 4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ratio = ratio
        self.pool = keras.layers.GlobalAveragePooling2D(keepdims=True, name="squeeze")
        self.reduce = None
        self.expand = None

    def build(self, input_shape: tuple) -> None:
        channels = int(input_shape[-1])
        self.reduce = keras.layers.Dense(max(1, channels // self.ratio), activation="relu",
                                         name="reduce")
        self.expand = keras.layers.Dense(channels, activation="sigmoid", name="expand")
        build_in_sequence([self.pool, self.reduce, self.expand], input_shape)

    def call(self, inputs: Any) -> Any:
        weights = self.expand(self.reduce(self.pool(inputs)))
        return ops.multiply(inputs, weights)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "ratio": self.ratio}


@keras.saving.register_keras_serializable(package="kerakit_vision")
class BottleneckBlock(keras.layers.Layer):
    """ResNet bottleneck: 1x1 reduce, 3x3, 1x1 expand (x4), batch-norm, skip connection.

    Args:
        filters: Bottleneck width; the output has ``4 * filters`` channels.
        strides: Stride of the 3x3 convolution.
    """

    def __init__(self, filters: int = 16, strides: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters, self.strides = filters, strides
        conv = keras.layers.Conv2D
        self.main = [
            conv(filters, 1, use_bias=False, name="reduce"),
            keras.layers.BatchNormalization(name="norm1"), keras.layers.ReLU(name="relu1"),
            conv(filters, 3, strides=strides, padding="same", use_bias=False, name="conv"),
            keras.layers.BatchNormalization(name="norm2"), keras.layers.ReLU(name="relu2"),
            conv(4 * filters, 1, use_bias=False, name="expand"),
            keras.layers.BatchNormalization(name="norm3"),
        ]
        self.project = [conv(4 * filters, 1, strides=strides, use_bias=False, name="project"),
                        keras.layers.BatchNormalization(name="project_norm")]
        self.out = keras.layers.ReLU(name="relu_out")
        self.needs_projection = True

    def build(self, input_shape: tuple) -> None:
        self.needs_projection = self.strides != 1 or input_shape[-1] != 4 * self.filters
        shape = build_in_sequence(self.main, input_shape)
        if self.needs_projection:
            build_in_sequence(self.project, input_shape)
        self.out.build(shape)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x = inputs
        for layer in self.main:
            x = layer(x, training=training)
        skip = inputs
        if self.needs_projection:
            for layer in self.project:
                skip = layer(skip, training=training)
        return self.out(x + skip)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        shape = tuple(input_shape)
        for layer in self.main:
            shape = tuple(layer.compute_output_shape(shape))
        return shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "strides": self.strides}


@keras.saving.register_keras_serializable(package="kerakit_vision")
class SeparableConvBlock(keras.layers.Layer):
    """Depthwise-separable convolution, batch-norm and activation (MobileNet style).

    Args:
        filters: Output channels.
        kernel_size: Depthwise window.
        strides: Stride.
        activation: Keras activation name.
    """

    def __init__(self, filters: int = 32, kernel_size: int = 3, strides: int = 1,
                 activation: str = "relu", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters, self.kernel_size = filters, kernel_size
        self.strides, self.activation = strides, activation
        self.layers_ = [
            keras.layers.SeparableConv2D(filters, kernel_size, strides=strides, padding="same",
                                         use_bias=False, name="separable"),
            keras.layers.BatchNormalization(name="norm"),
            keras.layers.Activation(activation, name="activation"),
        ]

    def build(self, input_shape: tuple) -> None:
        build_in_sequence(self.layers_, input_shape)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x = inputs
        for layer in self.layers_:
            x = layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        shape = tuple(input_shape)
        for layer in self.layers_:
            shape = tuple(layer.compute_output_shape(shape))
        return shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "activation": self.activation}
