"""Create a model's training state before ``fit``, so TensorFlow traces its step once.

On the TensorFlow backend with no distribution strategy, Keras defers creating
the optimizer's slots and the compiled metrics' variables to the first trace
of the training step. ``tf.function`` cannot keep variables created while
tracing, so it traces the step a second time: about 1.1 s of every ``fit`` of
the embedded default's CNN on 2 cores (``docs/performance.md``), which is a
large part of a short tuning trial. Creating that state first, from a small
probe batch, leaves one trace. The training itself is unchanged: the same weights,
the same random draws, the same scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PROBE_ROWS = 2


def build_training_state(model: Any, fit_kwargs: dict[str, Any]) -> bool:
    """Create the optimizer's and the compiled metrics' variables before ``model.fit``.

    Only on the TensorFlow backend, outside a distribution strategy (Keras
    builds that state itself there, as it does on JAX and PyTorch), and only
    for in-memory arrays (or a dict of them), whose first rows are the probe,
    and for a numeric ``tf.data.Dataset``, probed with zeros of its element
    spec: reading from it would advance its shuffle's seed and change the
    order of the epochs.

    Args:
        model: A compiled ``keras.Model``.
        fit_kwargs: The keyword arguments ``model.fit`` will get
            (``x``, ``y``, ...), as :func:`kerakit.engine.inputs.fit_inputs` gives.

    Returns:
        Whether the state was created here.

    Example:
        >>> import numpy as np, kerakit as kk
        >>> plan = kk.plan(kk.Model((4,), ["dense_block"], kk.use("classifier", classes=3)))
        >>> model = plan.build()
        >>> kwargs = {"x": np.zeros((8, 4)), "y": np.zeros(8, "int64"), "batch_size": 4}
        >>> build_training_state(model, kwargs)  # False on JAX and PyTorch
        True
        >>> model.optimizer.built
        True
    """
    import keras

    if keras.backend.backend() != "tensorflow" or getattr(model, "optimizer", None) is None:
        return False
    import tensorflow as tf

    if tf.distribute.has_strategy():
        return False
    batch = _first_batch(fit_kwargs)
    if batch is None:
        return False
    x, y = batch
    try:
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        if y is not None:
            model.compute_metrics(x, y, model(x, training=False), sample_weight=None)
    except Exception:  # Keras then builds it in the trace, as it does by default
        return False
    finally:
        model.reset_metrics()  # the probe batch must not count in the first epoch's metrics
    return True


def _first_batch(fit_kwargs: dict[str, Any]) -> tuple[Any, Any] | None:
    """A small batch shaped like the training inputs, or ``None`` where none can be made."""
    import keras

    x, y = fit_kwargs.get("x"), fit_kwargs.get("y")
    if _is_arrays(x):
        rows = keras.tree.map_structure(lambda a: a[:PROBE_ROWS], x)
        return rows, None if y is None else keras.tree.map_structure(
            lambda a: a[:PROBE_ROWS], y)
    import tensorflow as tf

    if not isinstance(x, tf.data.Dataset):
        return None
    specs = keras.tree.flatten(x.element_spec)
    if not all(isinstance(s, tf.TensorSpec) and s.shape.rank and (s.dtype.is_floating
               or s.dtype.is_integer) for s in specs):
        return None
    zeros = keras.tree.map_structure(
        lambda s: tf.zeros([PROBE_ROWS if d is None else d for d in s.shape], s.dtype),
        x.element_spec)
    if isinstance(zeros, tuple) and len(zeros) >= 2:
        return zeros[0], zeros[1]
    return zeros, None


def _is_arrays(x: Any) -> bool:
    import keras

    leaves = keras.tree.flatten(x) if x is not None else []
    return bool(leaves) and all(isinstance(leaf, np.ndarray) for leaf in leaves)
