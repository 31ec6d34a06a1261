"""The data side of a run: loading splits, checking them, and the inputs to ``fit``.

Everything here asks the :class:`~kerakit.engine.plan.Plan` what the head
expects, so data is checked against the same resolved declaration that is
built and trained.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from kerakit.data import Dataset, Streams, check_arrays, is_tf_dataset, split, streams_from
from kerakit.errors import DataError

if TYPE_CHECKING:
    from kerakit.engine.plan import Plan

__all__ = ["check_data", "fit_inputs", "load_data", "one_hot"]


def load_data(data: Any, plan: Plan) -> Dataset | Streams:
    """Turn ``data`` into train / validation / test splits.

    Args:
        data: A registered dataset name; a :class:`~kerakit.data.Dataset`; a tuple
            ``(x, y)`` (split by the declaration's ``validation_split``, with a
            20% test split); a dict with ``train``, ``val`` and ``test``
            ``(x, y)`` tuples; or a batched ``tf.data.Dataset`` of ``(x, y)``, or a
            dict of them (see :func:`kerakit.data.streams_from`).
        plan: The plan (its validation split and head are used).

    Splits always use the seed 0, whatever the declaration's seed, so runs
    with different seeds are compared on the same test set.

    Raises:
        DataError: for anything else, or data that cannot be split.
    """
    decl, head = plan.declaration, plan.head
    names = list(head.class_names) if head.class_names else None
    if isinstance(data, (Dataset, Streams)):
        return data
    if is_tf_dataset(data) or (isinstance(data, dict) and any(map(is_tf_dataset,
                                                                   data.values()))):
        return streams_from(data, float(decl.validation_split), head.task, names)
    if isinstance(data, str):
        factory = plan.registry.get("datasets", data)
        return factory.create(val_size=float(decl.validation_split))
    if isinstance(data, tuple) and len(data) == 2:
        return split(*data, val_size=float(decl.validation_split), test_size=0.2, seed=0,
                     task=head.task, class_names=names)
    if isinstance(data, dict) and {"train", "val"} <= set(data):
        empty = (np.asarray(data["train"][0])[:0], np.asarray(data["train"][1])[:0])
        parts = [tuple(np.asarray(a) for a in data.get(k, empty)) for k in ("train", "val", "test")]
        return Dataset("data", *parts[0], *parts[1], *parts[2], task=head.task,
                       class_names=names)
    raise DataError(
        "Invalid data. Expected a registered dataset name (e.g. 'digits'), a kerakit.Dataset, "
        f"an (x, y) tuple, or a dict of (x, y) splits. Received: {type(data).__name__}"
    )


def check_data(plan: Plan, data: Dataset | Streams) -> None:
    """Check the data against the declaration before anything is trained or written.

    ``tf.data`` pipelines are checked by their element spec only: their values
    are not read ahead of training.

    Raises:
        DataError: for a shape that does not match the inputs, NaN or inf
            features, labels out of range for the head, or empty splits.
    """
    expected = plan.declaration.inputs.shape
    if isinstance(data, Streams):
        got = data.input_shape
        if not _shape_matches(expected, got):
            raise DataError(
                f"Invalid tf.data pipeline: shape does not match the declared inputs. "
                f"Expected samples of shape {expected}. Received: {got}"
            )
        return
    allow_missing = plan.accepts_missing
    for part in ("train", "val", "test"):
        x, y = getattr(data, f"x_{part}"), getattr(data, f"y_{part}")
        if part == "train" or len(x):
            check_arrays(np.asarray(x), np.asarray(y), f"{data.name} ({part})",
                         allow_missing=allow_missing)
        got = tuple(np.asarray(x).shape[1:])
        if not _shape_matches(expected, got):
            raise DataError(
                f"Invalid data `{data.name}` ({part}): shape does not match the declared inputs. "
                f"Expected samples of shape {expected}. Received: {got}"
            )
    if plan.head.is_classifier:
        classes = plan.head.classes
        for part in ("train", "val", "test"):
            y = np.asarray(getattr(data, f"y_{part}"))
            if not len(y):
                continue
            expected = (f"Expected integer class indices in [0, {classes - 1}] for the head's "
                        f"{classes} classes")
            if y.dtype.kind not in "iub":
                raise DataError(
                    f"Invalid labels in `{data.name}` ({part}). {expected}. Received: dtype "
                    f"{y.dtype}, e.g. {y.ravel()[:3].tolist()}; map the labels to indices first"
                )
            bad = np.flatnonzero((y < 0) | (y >= classes))
            if bad.size:
                raise DataError(
                    f"Invalid labels in `{data.name}` ({part}). {expected}. Received: label "
                    f"{y.ravel()[bad[0]]} at row {bad[0]} ({bad.size} out of range)"
                )
    if not len(data.x_val):
        raise DataError(
            f"Invalid data `{data.name}`: the validation split is empty. Expected "
            "validation_split > 0 or a `val` split; early stopping and the curves need it."
        )


def _shape_matches(expected: tuple, got: tuple) -> bool:
    """Same rank, and equal wherever both sizes are known (None matches any size)."""
    return len(got) == len(expected) and all(
        e is None or g is None or e == g for e, g in zip(expected, got, strict=True))


def fit_inputs(plan: Plan, data: Dataset | Streams, replicas: int = 1) -> dict[str, Any]:
    """Keyword arguments for ``model.fit``: the data, batched and augmented as declared.

    Batch-level augmentations (MixUp, CutMix) need whole batches with their
    labels, so they run in a ``tf.data`` pipeline on the training split, with
    one-hot labels for classifiers; the validation labels are one-hot too, so
    the metrics see one label format.

    JAX's data parallelism splits every batch evenly between devices, so with
    several replicas on JAX the last, partial batch of each epoch is dropped.
    """
    import keras

    if isinstance(data, Streams):  # batched already: the declared batch size does not apply
        return {"x": data.train, "validation_data": data.val, "shuffle": False}
    decl = plan.declaration
    mixers = plan.batch_augmentations()
    even = replicas > 1 and keras.backend.backend() == "jax"
    if even and not mixers:
        return _even_batches(decl, data)
    if not mixers:
        return {"x": data.x_train, "y": data.y_train,
                "validation_data": (data.x_val, data.y_val),
                "batch_size": int(decl.batch_size)}
    import tensorflow as tf

    y_train, y_val = (one_hot(y, data) for y in (data.y_train, data.y_val))

    def mix(x: Any, y: Any) -> tuple[Any, Any]:
        for mixer in mixers:
            x, y = mixer(x, y)
        return x, y

    pipeline = (tf.data.Dataset.from_tensor_slices((data.x_train, y_train))
                .shuffle(len(data.x_train), seed=int(decl.seed or 0))
                .batch(int(decl.batch_size), drop_remainder=even)
                .map(mix, num_parallel_calls=tf.data.AUTOTUNE)
                .prefetch(tf.data.AUTOTUNE))
    return {"x": pipeline, "validation_data": (data.x_val, y_val), "shuffle": False}


def _even_batches(decl: Any, data: Dataset) -> dict[str, Any]:
    import tensorflow as tf

    batch = int(decl.batch_size)

    def pipe(x: np.ndarray, y: np.ndarray, shuffle: bool) -> Any:
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        if shuffle:
            ds = ds.shuffle(len(x), seed=int(decl.seed or 0))
        return ds.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)

    return {"x": pipe(data.x_train, data.y_train, True),
            "validation_data": pipe(data.x_val, data.y_val, False), "shuffle": False}


def one_hot(y: np.ndarray, data: Dataset) -> np.ndarray:
    """Class indices as float one-hot rows, for classifiers; other targets unchanged."""
    if data.task != "classification" or np.asarray(y).ndim > 1:
        return y
    classes = data.num_classes or int(np.max(y)) + 1
    return np.eye(classes, dtype="float32")[np.asarray(y).astype(int)]


