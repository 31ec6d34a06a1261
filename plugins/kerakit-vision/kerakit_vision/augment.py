"""Batch-level mixing (MixUp, CutMix) and random erasing, on Keras' own layers.

A batch-level augmentation is called as ``augment(images, labels)`` on a
whole training batch and returns mixed ``(images, labels)``. kerakit runs it in
the input pipeline; it is registered with ``batch_level=True``.
"""

from __future__ import annotations

import keras

from kerakit.base import BatchMixer


class MixUp(BatchMixer):
    """MixUp: blend pairs of images and their labels with a Beta(alpha, alpha) weight.

    Args:
        alpha: Beta distribution parameter; small values mix little.
        seed: Random seed.
    """

    layer_class = keras.layers.MixUp

    def __init__(self, alpha: float = 0.2, seed: int | None = None) -> None:
        super().__init__(alpha=alpha, seed=seed)


class CutMix(BatchMixer):
    """CutMix: paste a random patch of one image into another; labels mix by area.

    Args:
        factor: Beta distribution parameter for the patch size.
        seed: Random seed.
    """

    layer_class = keras.layers.CutMix

    def __init__(self, factor: float = 1.0, seed: int | None = None) -> None:
        super().__init__(factor=factor, seed=seed)


def random_erasing(factor: float = 0.5, scale: tuple[float, float] = (0.02, 0.2),
                   value_range: tuple[float, float] = (0.0, 1.0),
                   seed: int | None = None) -> keras.layers.Layer:
    """Random erasing: blank out a random rectangle of each image (training only)."""
    return keras.layers.RandomErasing(factor=factor, scale=scale, value_range=value_range,
                                      seed=seed)
