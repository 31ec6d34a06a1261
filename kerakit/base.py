"""Base classes and helpers for component authors: the public, stable surface.

Plugins (the built-ins included) build on these instead of kerakit's internals.

Example:
    >>> from kerakit.base import EpochSchedule
    >>> class Halve(EpochSchedule):
    ...     def rate(self, epoch, base):
    ...         return base / 2 ** epoch
    >>> Halve().rate(2, 0.1)
    0.025
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

__all__ = ["BatchMixer", "CompositeLayer", "EpochSchedule", "build_in_sequence"]


def build_in_sequence(layers: Sequence[keras.layers.Layer], input_shape: tuple) -> tuple:
    """Build each layer on the previous one's output shape; return the last shape.

    Composite layers must build their sub-layers explicitly, or Keras cannot
    restore their weights when the model is reloaded.
    """
    shape = tuple(input_shape)
    for layer in layers:
        if not layer.built:
            layer.build(shape)
        shape = tuple(layer.compute_output_shape(shape))
    return shape



class CompositeLayer(keras.layers.Layer):
    """Base class: a block made of a fixed sequence of sub-layers.

    Subclasses create their sub-layers in ``__init__`` and return them, in
    order, from ``_sequence()``; building, calling and output shapes follow.
    """

    def _sequence(self) -> list[keras.layers.Layer]:
        raise NotImplementedError

    def build(self, input_shape: tuple) -> None:
        build_in_sequence(self._sequence(), input_shape)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x = inputs
        for layer in self._sequence():
            x = layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        shape = tuple(input_shape)
        for layer in self._sequence():
            shape = tuple(layer.compute_output_shape(shape))
        return shape


class EpochSchedule(keras.callbacks.Callback):
    """Base class: sets the optimizer's learning rate at the start of each epoch.

    Subclasses implement ``rate(epoch, base)``, where ``base`` is the rate the
    optimizer started with.
    """

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.base_rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.model.optimizer.learning_rate = self.rate(epoch, self.base_rate)

    def rate(self, epoch: int, base: float) -> float:
        raise NotImplementedError


class BatchMixer:
    """Base class: a batch-level augmentation wrapping a Keras mixing layer.

    The layer (``layer_class``, such as ``keras.layers.MixUp``) takes
    ``{"images", "labels"}``; kerakit calls ``mixer(images, labels)`` on whole
    training batches in the input pipeline. Register it with ``batch_level=True``.
    """

    layer_class: Any = None

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.layer = self.layer_class(**params)

    def __call__(self, images: Any, labels: Any) -> tuple[Any, Any]:
        out = self.layer({"images": images, "labels": labels}, training=True)
        return out["images"], out["labels"]

    def get_config(self) -> dict[str, Any]:
        return dict(self.params)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BatchMixer:
        return cls(**config)
