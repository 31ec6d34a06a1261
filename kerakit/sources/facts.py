"""Facts: what reading the data found, handed to the plan as plain values.

:func:`data_record` is the other way round: what a run was trained on, as
the run manifest records it for people (the model card) and tools.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kerakit.data import Dataset, Streams, guess_task

__all__ = ["Facts", "data_record", "facts_of", "names_of", "split_rows"]


@dataclasses.dataclass(frozen=True)
class Facts:
    """What reading the data found: all a plan needs to know about it.

    Attributes:
        kind: ``"table"``, ``"arrays"``, ``"images"``, ``"dataset"`` (a
            registered one) or ``"pipeline"`` (``tf.data``).
        name: Shown in errors and recorded in the run manifest.
        task: ``"classification"`` or ``"regression"``; ``None`` when only
            training would tell (a pipeline).
        class_names: The classes, for classification.
        columns: For a table, each raw column's kind (the declaration's
            ``columns`` overriding the inferred ones).
        outputs: Number of regression targets.
        rows: Rows or images in all splits, when known.
        input_shape: One sample's shape, for arrays, images and pipelines.
    """

    kind: str
    name: str
    task: str | None = None
    class_names: tuple[str, ...] | None = None
    columns: dict[str, str] | None = None
    outputs: int = 1
    rows: int | None = None
    input_shape: tuple[int | None, ...] | None = None


def facts_of(kind: str, name: str, x: Any, y: Any, rows: int, task: str | None = None,
              class_names: Sequence[str] | None = None) -> Facts:
    """Facts of features and labels held as arrays."""
    y = np.asarray(y)
    task = task or guess_task(y)
    if task == "classification" and class_names is None and y.ndim == 1 \
            and y.dtype.kind in "iubUSO":
        class_names = sorted({str(v) for v in y.tolist()}, key=_label_order)
    return Facts(kind, name, task, names_of(class_names),
                 outputs=int(y.shape[1]) if y.ndim > 1 and task == "regression" else 1,
                 rows=rows, input_shape=tuple(np.shape(x)[1:]))


def _label_order(label: str) -> tuple[int, Any]:
    """Integer labels in numeric order, others as text."""
    return (0, int(label)) if label.lstrip("-").isdigit() else (1, label)


def names_of(names: Sequence[str] | None) -> tuple[str, ...] | None:
    """Class names as a tuple of strings (``None`` stays ``None``)."""
    return tuple(str(n) for n in names) if names is not None else None


def split_rows(data: Dataset | Streams) -> dict[str, int | None]:
    """Rows in the training, validation and test splits; ``None`` where unknown.

    A pipeline's rows are counted with one pass over it, only when its size
    is known and finite; kerakit's own image-folder pipelines are cached in
    memory by the end of training, so the pass reads no file again.

    Example:
        >>> from kerakit.data import split
        >>> split_rows(split(np.zeros((50, 2)), np.arange(50) % 2, val_size=0.2))
        {'train': 30, 'validation': 10, 'test': 10}
    """
    if isinstance(data, Dataset):
        return {"train": len(data.x_train), "validation": len(data.x_val),
                "test": len(data.x_test)}
    return {"train": _pipeline_rows(data.train), "validation": _pipeline_rows(data.val),
            "test": _pipeline_rows(data.test) if data.test is not None else 0}


def _pipeline_rows(pipeline: Any) -> int | None:
    import tensorflow as tf

    if pipeline is None or int(pipeline.cardinality()) < 0:  # unknown or infinite
        return None
    return int(pipeline.reduce(np.int64(0), lambda n, batch: n + tf.shape(
        batch[1], out_type=tf.int64)[0]))


def data_record(data: Dataset | Streams, targets: str | Sequence[str] | None = None,
                vocabularies: Mapping[str, int] | None = None) -> dict[str, Any]:
    """What a run was trained on, for the run manifest's ``data``.

    Example:
        >>> from kerakit.data import split
        >>> record = data_record(split(np.zeros((50, 2)), np.arange(50) % 2, val_size=0.2))
        >>> record["source"], record["rows"]["test"], record["columns"]
        ('data', 10, None)

    Args:
        data: The splits the run trained, validated and tested on.
        targets: The target column(s) of a table, when known.
        vocabularies: Categories per categorical column (see
            :func:`kerakit.engine.tables.vocabulary_sizes`).

    Returns:
        ``{"source", "targets", "rows": {"train", "validation", "test"},
        "columns"}``; ``columns`` lists a table's raw columns as
        ``{"name", "kind", "vocabulary"}`` (``None`` for other data), with
        ``vocabulary`` ``None`` for numeric or ignored columns.
    """
    columns = None
    if isinstance(data, Dataset) and data.columns:
        sizes = vocabularies or {}
        columns = [{"name": name, "kind": kind, "vocabulary": sizes.get(name)}
                   for name, kind in data.columns.items()]
    if isinstance(targets, str):
        targets = [targets]
    source = data.name
    if source and Path(source).exists():  # a file or folder: found again from anywhere
        source = str(Path(source).resolve())
    return {"source": source, "targets": list(targets) if targets else None,
            "rows": split_rows(data), "columns": columns}
