"""Datasets and data checks: splits, validation against the declaration.

A :class:`Dataset` holds train / validation / test splits as numpy arrays with
the metadata a model needs (task, class names). Splits use scikit-learn's
``train_test_split``, stratified for classification, with a fixed seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kerakit.errors import DataError

TASKS = ("classification", "regression")


@dataclass
class Dataset:
    """Train, validation and test splits of one dataset.

    Attributes:
        name: Dataset name.
        x_train, y_train, x_val, y_val, x_test, y_test: The splits. ``x_test``
            may be empty when there is no test split.
        task: ``"classification"`` or ``"regression"``.
        class_names: One name per class, for classification.
        feature_names: One name per feature, for tables.
        columns: For a table read from a file or DataFrame: each raw column the
            model takes and how it is encoded (``"numeric"`` or
            ``"categorical"``); the ``x_*`` splits are then DataFrames.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str = "classification"
    class_names: list[str] | None = None
    feature_names: list[str] | None = field(default=None, repr=False)
    columns: dict[str, str] | None = field(default=None, repr=False)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int | None:
        return len(self.class_names) if self.class_names is not None else None

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, task={self.task!r}, input_shape={self.input_shape}, "
            f"train={len(self.x_train)}, val={len(self.x_val)}, test={len(self.x_test)})"
        )


def split(
    x: Any,
    y: Any,
    *,
    name: str = "data",
    task: str | None = None,
    val_size: float = 0.15,
    test_size: float = 0.2,
    seed: int = 0,
    class_names: Sequence[str] | None = None,
) -> Dataset:
    """Split arrays into train / validation / test, stratified for classification.

    The test split is taken first, so it stays the same whatever ``val_size``.

    Args:
        x: Features, first axis is samples.
        y: Targets.
        name: Dataset name.
        task: ``"classification"`` or ``"regression"``; guessed from ``y`` if
            ``None`` (integers or strings: classification).
        val_size: Fraction of all samples for validation (0 for none).
        test_size: Fraction of all samples for test (0 for none).
        seed: Shuffle seed.
        class_names: Names of the classes.

    Returns:
        A :class:`Dataset`.

    Raises:
        DataError: for empty data, mismatched lengths or too few samples.
    """
    x = x if is_table(x) else np.asarray(x)
    y = np.asarray(y)
    if is_table(x):
        check_lengths(x, y, name)
    else:
        check_arrays(x, y, name)
    task = task or guess_task(y)
    _check_split(task, val_size, test_size)
    if task == "classification":
        y, class_names = class_indices(y, class_names, name)
    try:
        rest_x, rest_y, parts = _take_parts(x, y, {"test": test_size, "val": val_size}, seed,
                                            stratified=task == "classification")
    except ValueError as exc:  # from scikit-learn: too few samples of a class
        rare = _rare_classes(y, class_names) if task == "classification" else []
        counts = f"; classes with fewer than 3 samples: {', '.join(rare)}" if rare else ""
        raise DataError(
            f"Cannot split `{name}` ({len(x)} samples) into validation {val_size} and test "
            f"{test_size}. Expected enough samples of each class for a stratified split. "
            f"Received: {exc}{counts}"
        ) from exc
    return Dataset(
        name, rest_x, rest_y, *parts["val"], *parts["test"], task=task,
        class_names=list(class_names) if class_names is not None else None,
    )


def _check_split(task: str, val_size: float, test_size: float) -> None:
    if task not in TASKS:
        raise DataError(f"Invalid task. Expected one of: {TASKS}. Received: task={task!r}")
    if not (0 <= val_size < 1 and 0 <= test_size < 1 and val_size + test_size < 1):
        raise DataError(
            "Invalid split sizes. Expected val_size and test_size in [0, 1) summing to less "
            f"than 1. Received: val_size={val_size}, test_size={test_size}"
        )


def _rare_classes(y: np.ndarray, class_names: Sequence[str] | None) -> list[str]:
    """``"name (count)"`` of each class with fewer than 3 samples: too few to stratify."""
    values, sizes = np.unique(y, return_counts=True)
    return [f"{class_names[v] if class_names else v} ({n})"
            for v, n in zip(values.tolist(), sizes.tolist(), strict=True) if n < 3]


def _take_parts(x: Any, y: np.ndarray, sizes: dict[str, float], seed: int, *,
                stratified: bool) -> tuple[Any, np.ndarray, dict[str, tuple[Any, np.ndarray]]]:
    """Take each part of ``sizes`` (a fraction of all samples) in turn; return what is left."""
    from sklearn.model_selection import train_test_split

    parts: dict[str, tuple[Any, np.ndarray]] = {}
    rest_x, rest_y = x, y
    for part, size in sizes.items():
        if size <= 0:
            parts[part] = (x[:0], y[:0])
            continue
        frac = size / (len(rest_x) / len(x))
        rest_x, part_x, rest_y, part_y = train_test_split(
            rest_x, rest_y, test_size=frac, random_state=seed,
            stratify=rest_y if stratified else None,
        )
        parts[part] = (part_x, part_y)
    return rest_x, rest_y, parts


def class_indices(y: np.ndarray, class_names: Sequence[str] | None,
                  name: str = "data") -> tuple[np.ndarray, list[str] | None]:
    """Labels as class indices, with the class names they stand for.

    Integer labels are kept as they are and checked against ``class_names``;
    string (or boolean) labels are class names themselves: they are looked up
    in ``class_names`` when given, else the sorted distinct labels become the
    classes.

    Raises:
        DataError: naming the first label that is not one of the classes.
    """
    y = np.asarray(y)
    if y.dtype.kind in "iu":
        if class_names is None:
            return y, [str(c) for c in np.unique(y)]
        bad = np.flatnonzero((y < 0) | (y >= len(class_names)))
        if bad.size:
            raise DataError(
                f"Invalid label in `{name}`. Expected integer class indices in [0, "
                f"{len(class_names) - 1}] for the classes {list(class_names)}. Received: label "
                f"{y[bad[0]]} at row {bad[0]} ({bad.size} out of range)"
            )
        return y, list(class_names)
    if y.dtype.kind not in "bUSO":
        raise DataError(f"Invalid labels in `{name}`. Expected integer class indices or class "
                        f"names. Received: dtype {y.dtype}, e.g. {y.ravel()[:3].tolist()}")
    labels = np.asarray([str(v) for v in y.ravel()])
    names = list(class_names) if class_names is not None else sorted(set(labels.tolist()))
    index = {n: i for i, n in enumerate(names)}
    for row, label in enumerate(labels.tolist()):
        if label not in index:
            raise DataError(
                f"Invalid label in `{name}`. Expected one of the classes {names}. Received: "
                f"{label!r} at row {row}"
            )
    return np.asarray([index[v] for v in labels.tolist()], dtype="int64"), names


def is_table(x: Any) -> bool:
    """Whether ``x`` is a pandas DataFrame (without importing pandas)."""
    return hasattr(x, "columns") and hasattr(x, "iloc")


def check_lengths(x: Any, y: np.ndarray | None, name: str = "data") -> None:
    """At least one sample, and as many targets as samples.

    Raises:
        DataError: for empty data or mismatched lengths.
    """
    if len(x) == 0:
        raise DataError(f"Invalid data `{name}`. Expected at least one sample. Received: 0 rows")
    if y is not None and len(y) != len(x):
        raise DataError(
            f"Invalid data `{name}`. Expected as many targets as samples. "
            f"Received: {len(x)} samples and {len(y)} targets"
        )


def guess_task(y: np.ndarray) -> str:
    """``"classification"`` for integer, boolean or string targets, else ``"regression"``."""
    kind = np.asarray(y).dtype.kind
    return "classification" if kind in "iubUSO" else "regression"


def check_arrays(x: np.ndarray, y: np.ndarray | None, name: str = "data",
                 allow_missing: bool = False) -> None:
    """Check features and targets before anything is trained or written.

    Args:
        x: Features.
        y: Targets, or ``None``.
        name: Shown in errors.
        allow_missing: Let NaN through (an imputing preprocessor comes first);
            infinities are still refused.

    Raises:
        DataError: for empty data, mismatched lengths, non-numeric or
            non-finite features.
    """
    if x.ndim == 0 or len(x) == 0:
        raise DataError(
            f"Invalid data `{name}`. Expected at least one sample. Received: x of shape {x.shape}"
        )
    if y is not None and len(y) != len(x):
        raise DataError(
            f"Invalid data `{name}`. Expected as many targets as samples. "
            f"Received: {len(x)} samples and {len(y)} targets"
        )
    if x.dtype.kind not in "biuf":
        raise DataError(
            f"Invalid data `{name}`. Expected numeric features. Received: dtype {x.dtype}"
        )
    if x.dtype.kind == "f" and allow_missing and np.isinf(x).any():
        raise DataError(f"Invalid data `{name}`. Expected finite or missing (NaN) features. "
                        f"Received: {int(np.isinf(x).sum())} infinite values")
    if x.dtype.kind == "f" and not allow_missing and not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).sum())
        raise DataError(
            f"Invalid data `{name}`. Expected finite features. Received: {bad} NaN or "
            "infinite values; impute or drop them first"
        )


@dataclass
class Streams:
    """Batched ``tf.data`` pipelines of ``(x, y)`` for training, validation and test.

    Attributes:
        name: Data name.
        train, val: The training and validation pipelines.
        test: The test pipeline, or ``None``.
        task, class_names: As for :class:`Dataset`.
    """

    name: str
    train: Any
    val: Any
    test: Any = None
    task: str = "classification"
    class_names: list[str] | None = None

    @property
    def input_shape(self) -> tuple[int | None, ...]:
        x_spec = self.train.element_spec[0]
        return tuple(x_spec.shape[1:])

    def features(self) -> Any:
        """The training pipeline's features only, for ``adapt``."""
        return self.train.map(lambda x, y: x)


def is_tf_dataset(value: Any) -> bool:
    """Whether ``value`` is a ``tf.data.Dataset`` (without importing TensorFlow)."""
    return type(value).__module__.startswith("tensorflow") and hasattr(value, "element_spec")


def streams_from(data: Any, validation_split: float, task: str,
                 class_names: list[str] | None) -> Streams:
    """A ``tf.data.Dataset``, or a dict of them, as :class:`Streams`.

    A single dataset is split by batches: the first ``validation_split`` of its
    batches validate, the rest train. Its size must be known, and its order
    fixed between epochs (``reshuffle_each_iteration=False``), or the
    validation batches would leak into training; pass
    ``{"train": ..., "val": ..., "test": ...}`` to choose the splits yourself.

    Raises:
        DataError: for unbatched data, an unknown size or missing splits.
    """
    if isinstance(data, dict):
        missing = {"train", "val"} - set(data)
        if missing:
            raise DataError(f"Invalid data dict. Expected `train` and `val` datasets. "
                            f"Received: keys {sorted(data)}")
        streams = Streams("data", data["train"], data["val"], data.get("test"), task,
                          class_names)
    else:
        batches = int(data.cardinality())
        if batches < 2:
            raise DataError(
                "Invalid tf.data.Dataset. Expected a batched dataset of known size, to split "
                f"off validation batches. Received: cardinality {batches}; pass "
                "{'train': ..., 'val': ...} instead"
            )
        n_val = max(1, round(batches * validation_split))
        streams = Streams("data", data.skip(n_val), data.take(n_val), None, task, class_names)
    spec = streams.train.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2 or spec[0].shape.rank in (None, 0) \
            or spec[0].shape[0] is not None:
        raise DataError(
            "Invalid tf.data.Dataset. Expected batches of (features, labels). Received: "
            f"element_spec {spec}; call .batch(n) on a dataset of (x, y) pairs"
        )
    return streams
