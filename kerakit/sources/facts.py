"""Facts: what reading the data found, handed to the plan as plain values."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from kerakit.data import guess_task

__all__ = ["Facts", "facts_of", "names_of"]


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
