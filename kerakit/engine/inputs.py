"""The data side of a plan: splits checked against it, and the inputs to ``fit``.

Reading and splitting is :mod:`kerakit.sources`; everything here asks the
plan (``the_plan``, a :class:`~kerakit.engine.plan.Plan`) what the head
expects, so data is checked against the same resolved declaration that is
built and trained. This module does not import the plan module, which
imports it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from kerakit.data import Dataset, Streams, check_arrays, is_table
from kerakit.errors import DataError

Plan = Any  # a kerakit.engine.plan.Plan; not imported, as the plan module imports this one

__all__ = ["check_data", "fit_inputs", "image_size_of", "in_original_units", "join_rows",
           "model_x", "one_hot", "shape_targets", "target_scale"]


def image_size_of(decl: Any) -> tuple[int, int] | None:
    """The image size a declaration works at: its input size, or its first ``resize``."""
    shape = tuple(decl.inputs.shape)
    if len(shape) == 3 and shape[0] and shape[1]:
        return int(shape[0]), int(shape[1])
    for ref in decl.preprocess:
        params = getattr(ref, "params", {})
        if getattr(ref, "name", "") == "resize" and "height" in params:
            return int(params["height"]), int(params["width"])
    return None


def shape_targets(data: Dataset | Streams, plan: Plan) -> Dataset | Streams:
    """Regression targets as ``(n, outputs)``, like the head's output."""
    if not isinstance(data, Dataset) or plan.head.is_classifier:
        return data
    shaped = {}
    for part in ("train", "val", "test"):
        y = np.asarray(getattr(data, f"y_{part}"))
        if y.ndim == 1:
            shaped[f"y_{part}"] = y.reshape(-1, 1)
    return dataclasses.replace(data, **shaped) if shaped else data


def target_scale(plan: Plan, data: Dataset | Streams) -> tuple[np.ndarray, np.ndarray] | None:
    """The training targets' mean and deviation, when the optimiser sees standardised targets.

    ``None`` for classifiers, ``standardize_targets=False``, or pipelines
    (their targets are not read ahead of training).
    """
    if plan.head.is_classifier or not plan.declaration.standardize_targets \
            or not isinstance(data, Dataset) or plan.has_batch_augmentation:
        return None
    y = np.asarray(data.y_train, dtype="float64")
    y = y.reshape(len(y), -1)
    std = y.std(axis=0)
    return y.mean(axis=0).astype("float32"), np.where(std > 0, std, 1.0).astype("float32")


def in_original_units(plan: Plan, model: Any, data: Dataset | Streams) -> Any:
    """The trained model with a last ``Rescaling`` layer back to the targets' units.

    A model trained on standardised targets is wrapped (sharing its weights
    and optimizer) so its predictions, evaluation, ``.keras`` file and exports
    are in the original units; other models are returned as they are.
    """
    scale = target_scale(plan, data)
    if scale is None:
        return model
    import keras

    mean, std = scale
    outputs = keras.layers.Rescaling(scale=std.tolist(), offset=mean.tolist(),
                                     name="target_units")(model.outputs[0])
    wrapped = keras.Model(model.inputs if not isinstance(model.input, dict) else model.input,
                          outputs, name=model.name)
    from kerakit.engine.builder import create

    wrapped.compile(optimizer=model.optimizer, loss=create(plan, "losses", plan.loss, "loss"),
                    metrics=[create(plan, "metrics", m, f"metrics[{i}]")
                             for i, m in enumerate(plan.metrics)])
    return wrapped


def join_rows(first: Any, second: Any) -> Any:
    """Two splits' features as one: arrays concatenated, or a table's rows."""
    if is_table(first):
        import pandas as pd

        return pd.concat([first, second], ignore_index=True)
    return np.concatenate([first, second])


def model_x(x: Any) -> Any:
    """Features as the model takes them: a table's columns by name, arrays as they are."""
    if is_table(x):
        from kerakit.engine.tables import model_inputs

        return model_inputs(x)
    return x


def check_data(plan: Plan, data: Dataset | Streams) -> None:
    """Check the data against the declaration before anything is trained or written.

    ``tf.data`` pipelines are checked by their element spec only: their values
    are not read ahead of training.

    Raises:
        DataError: for a shape that does not match the inputs, NaN or inf
            features, labels out of range for the head, or empty splits.
    """
    expected = plan.declaration.inputs.shape
    if isinstance(data, Dataset) and data.columns:
        _check_backend(data.columns)
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
        if is_table(x):  # typed and checked column by column when read
            continue
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
        _check_labels(plan, data)
    if not len(data.x_val):
        raise DataError(
            f"Invalid data `{data.name}`: the validation split is empty. Expected "
            "validation_split > 0 or a `val` split; early stopping and the curves need it."
        )


def _check_labels(plan: Plan, data: Dataset) -> None:
    """Class labels as indices within the classifier head's classes, and distinct names."""
    classes = plan.head.classes
    names = [str(n) for n in data.class_names or ()]
    if len(set(names)) < len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise DataError(f"Invalid class names of `{data.name}`. Expected distinct names. "
                        f"Received: {', '.join(map(repr, repeated))} more than once")
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


def _check_backend(columns: dict[str, str]) -> None:
    import keras

    if keras.backend.backend() != "tensorflow" and "categorical" in columns.values():
        names = [c for c, k in columns.items() if k == "categorical"]
        raise DataError(
            "Categorical table columns need the TensorFlow backend: StringLookup and "
            "IntegerLookup run TensorFlow ops. Expected KERAS_BACKEND=tensorflow, or only "
            f"numeric columns. Received: backend {keras.backend.backend()!r} and categorical "
            f"columns {names}; set columns={{{names[0]!r}: 'ignore'}} to leave one out"
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
    the metrics see one label format. A table's columns go in by name, and
    regression targets are standardised (see :func:`target_scale`).

    JAX's data parallelism splits every batch evenly between devices, so with
    several replicas on JAX the last, partial batch of each epoch is dropped.
    An empty validation split (a cross-validated run's final model) gives no
    ``validation_data``; a declared ``class_weight`` is passed on by class index.
    """
    weights = class_weights(plan, data)
    kwargs = _fit_data(plan, data, replicas)
    return {**kwargs, "class_weight": weights} if weights else kwargs


def _fit_data(plan: Plan, data: Dataset | Streams, replicas: int) -> dict[str, Any]:
    import keras

    if isinstance(data, Streams):  # batched already: the declared batch size does not apply
        return {"x": data.train, "validation_data": data.val, "shuffle": False}
    decl = plan.declaration
    scale = target_scale(plan, data)
    if scale is not None or is_table(data.x_train):
        mean, std = scale if scale is not None else (0.0, 1.0)
        data = dataclasses.replace(
            data, x_train=model_x(data.x_train), x_val=model_x(data.x_val),
            y_train=((data.y_train - mean) / std).astype("float32") if scale else data.y_train,
            y_val=((data.y_val - mean) / std).astype("float32") if scale else data.y_val)
    mixers = plan.batch_augmentations()
    even = replicas > 1 and keras.backend.backend() == "jax"
    if even and not mixers:
        return _even_batches(decl, data)
    if not mixers:
        return {"x": data.x_train, "y": data.y_train,
                "validation_data": (data.x_val, data.y_val) if len(data.y_val) else None,
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
    return {"x": pipeline, "validation_data": (data.x_val, y_val) if len(y_val) else None,
            "shuffle": False}


def _even_batches(decl: Any, data: Dataset) -> dict[str, Any]:
    import tensorflow as tf

    batch = int(decl.batch_size)

    def pipe(x: np.ndarray, y: np.ndarray, shuffle: bool) -> Any:
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        if shuffle:
            ds = ds.shuffle(len(x), seed=int(decl.seed or 0))
        return ds.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)

    validation = pipe(data.x_val, data.y_val, False) if len(data.y_val) else None
    return {"x": pipe(data.x_train, data.y_train, True), "validation_data": validation,
            "shuffle": False}


def class_weights(plan: Plan, data: Dataset | Streams) -> dict[int, float] | None:
    """The declared ``class_weight`` as Keras takes it: class index -> weight.

    ``"balanced"`` weighs each class by ``rows / (classes * rows of the class)``
    over the training split (scikit-learn's ``compute_class_weight``); a dict
    names classes by their names.

    Raises:
        DataError: for a class weight given to a regression head, or naming a
            class the data does not have.
    """
    spec = plan.declaration.class_weight
    if spec is None:
        return None
    if not plan.head.is_classifier:
        raise DataError("Invalid `class_weight`. Expected it with a classifier head. "
                        f"Received: class_weight={spec!r} with a {plan.head.task} head")
    names = [str(n) for n in (data.class_names or ())]
    if spec == "balanced":
        if isinstance(data, Streams):
            raise DataError("Invalid `class_weight`. Expected a mapping of class name to "
                            "weight for tf.data pipelines, whose labels are not read ahead. "
                            "Received: class_weight='balanced'")
        from sklearn.utils.class_weight import compute_class_weight

        y = np.asarray(data.y_train)
        y = y.argmax(axis=1) if y.ndim > 1 else y.astype(int)
        present = np.unique(y)
        found = compute_class_weight("balanced", classes=present, y=y)
        return {int(c): float(w) for c, w in zip(present.tolist(), found.tolist(), strict=True)}
    unknown = sorted(set(spec) - set(names))
    if unknown:
        raise DataError(f"Invalid `class_weight`. Expected class names of `{data.name}`: "
                        f"{', '.join(names)}. Received: {', '.join(map(repr, unknown))}")
    return {names.index(name): float(weight) for name, weight in spec.items()}


def rare_class_warning(plan: Plan, data: Dataset | Streams, share: float = 0.10) -> str | None:
    """A one-line suggestion when the rarest class is under ``share`` of the training rows.

    With many classes even a balanced split has small ones (ten classes are
    10% each), so the rarest must also be under half its balanced share.
    ``None`` when the classes are balanced enough, a weighting is declared,
    or the labels are not read ahead (pipelines).
    """
    if not plan.head.is_classifier or plan.declaration.class_weight is not None \
            or not isinstance(data, Dataset) or not len(data.y_train):
        return None
    y = np.asarray(data.y_train)
    y = y.argmax(axis=1) if y.ndim > 1 else y.astype(int)
    counts = np.bincount(y)
    rarest = int(np.argmin(np.where(counts > 0, counts, len(y) + 1)))
    rarest_share = counts[rarest] / len(y)
    if rarest_share >= share or rarest_share >= 0.5 / int((counts > 0).sum()):
        return None
    names = data.class_names or [str(i) for i in range(len(counts))]
    return (f"class {names[rarest]!r} is {rarest_share:.1%} of the training rows: "
            "consider class_weight='balanced' (--class-weight balanced)")


def one_hot(y: np.ndarray, data: Dataset) -> np.ndarray:
    """Class indices as float one-hot rows, for classifiers; other targets unchanged."""
    if data.task != "classification" or np.asarray(y).ndim > 1:
        return y
    classes = data.num_classes or int(np.max(y)) + 1
    return np.eye(classes, dtype="float32")[np.asarray(y).astype(int)]


