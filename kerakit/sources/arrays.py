"""Arrays as splits: ``.npz`` files and labels named by the head's class count."""

from __future__ import annotations

import numpy as np

from kerakit.data import Dataset, split
from kerakit.errors import DataError

__all__ = ["TEST_SIZE", "index_names", "npz_dataset"]

TEST_SIZE = 0.2  # the held-out test fraction of every split kerakit makes


def npz_dataset(arrays: dict[str, np.ndarray], name: str, val_size: float, task: str | None,
                 names: list[str] | None, classes: int | None) -> Dataset:
    """A ``.npz`` with ``x`` and ``y``, or ``x_train``, ``y_train``, ``x_val``, ... splits.

    Raises:
        DataError: naming the arrays there are, when they are neither.
    """
    if {"x", "y"} <= set(arrays):
        return split(arrays["x"], arrays["y"], name=name, val_size=val_size,
                     test_size=TEST_SIZE, seed=0, task=task,
                     class_names=names or index_names(arrays["y"], classes))
    if {"x_train", "y_train", "x_val", "y_val"} <= set(arrays):
        empty = (arrays["x_train"][:0], arrays["y_train"][:0])
        test = (arrays["x_test"], arrays["y_test"]) if "x_test" in arrays else empty
        return Dataset(name, arrays["x_train"], arrays["y_train"], arrays["x_val"],
                       arrays["y_val"], *test, task=task or "classification",
                       class_names=names)
    raise DataError(f"Invalid .npz file {name!r}. Expected arrays `x` and `y`, or "
                    "`x_train`, `y_train`, `x_val`, `y_val` (and `x_test`, `y_test`). "
                    f"Received: {sorted(arrays) or 'no arrays'}")


def index_names(y: np.ndarray, classes: int | None) -> list[str] | None:
    """``"0"``, ``"1"``, ... for integer labels of a head with ``classes`` classes.

    Naming every class the head has, rather than the labels seen, lets a
    stray label be reported as out of range.
    """
    if classes and np.asarray(y).dtype.kind in "iu":
        return [str(i) for i in range(classes)]
    return None
