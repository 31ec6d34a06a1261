"""Data-parallel training on every local device: MirroredStrategy on TF, DataParallel on JAX."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from kerakit.errors import KerakitError

STRATEGIES = ("mirrored",)


def check_strategy(kind: str | None) -> None:
    """Raise :class:`KerakitError` for an unknown strategy (before anything is written)."""
    if kind is not None and kind not in STRATEGIES:
        raise KerakitError(f"Invalid distribute. Expected None or one of: "
                           f"{', '.join(STRATEGIES)}. Received: distribute={kind!r}")


@contextlib.contextmanager
def distribution(kind: str | None) -> Iterator[int]:
    """Build and train inside this context to replicate the model over local devices.

    Yields the number of replicas (1 when ``kind`` is ``None``). Uses every GPU,
    or every logical CPU device when there is no GPU (tests configure two).

    Args:
        kind: ``None`` or ``"mirrored"``.

    Raises:
        KerakitError: for an unknown strategy or a backend without one.
    """
    check_strategy(kind)
    if kind is None:
        yield 1
        return
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
        with strategy.scope():
            yield strategy.num_replicas_in_sync
    elif backend == "jax":
        devices = keras.distribution.list_devices()
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        try:
            yield len(devices)
        finally:
            keras.distribution.set_distribution(previous)
    else:
        raise KerakitError(f"distribute='mirrored' needs the TensorFlow or JAX backend. "
                           f"Received: backend {backend!r}")
