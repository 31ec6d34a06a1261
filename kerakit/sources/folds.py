"""k-fold cross-validation folds, made where the data is read.

The folds split the training rows (the training and validation splits
together); the test split stays held out. They are stratified by class for
classification and fixed by the seed, so every trial of a search, and every
run with the same seed, is scored on the same paired folds.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from kerakit.data import Dataset, Streams, is_table
from kerakit.errors import DataError, UsageError

__all__ = ["fold_datasets", "fold_indices", "training_rows"]


def fold_indices(y: np.ndarray, k: int, *, task: str, seed: int = 0
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` disjoint validation folds over the rows of ``y``, with their training rows.

    Example:
        >>> folds = fold_indices(np.array([0, 1] * 10), 5, task="classification")
        >>> [len(val) for _, val in folds]
        [4, 4, 4, 4, 4]

    Args:
        y: The labels or targets of the training rows.
        k: Number of folds, at least 2.
        task: ``"classification"`` stratifies the folds by class.
        seed: Shuffles the rows before folding.

    Returns:
        ``[(train_rows, val_rows), ...]``, one pair of index arrays per fold.

    Raises:
        UsageError: for ``k`` below 2 or above the number of rows.
        DataError: for a class with fewer rows than folds.
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise UsageError(f"Invalid value for argument `cv`. Expected an integer >= 2 (the "
                         f"number of folds). Received: cv={k!r}")
    y = np.asarray(y)
    if k > len(y):
        raise UsageError(f"Invalid value for argument `cv`. Expected at most one fold per "
                         f"training row ({len(y)}). Received: cv={k}")
    rows = np.zeros(len(y))
    if task == "classification" and y.ndim == 1:
        values, counts = np.unique(y, return_counts=True)
        if counts.min() < k:
            raise DataError(f"Cannot make {k} stratified folds. Expected at least {k} training "
                            f"rows of every class. Received: {counts.min()} of class "
                            f"{values[np.argmin(counts)]!r}")
        splitter = StratifiedKFold(n_splits=int(k), shuffle=True, random_state=seed)
        return [(a, b) for a, b in splitter.split(rows, y)]
    splitter = KFold(n_splits=int(k), shuffle=True, random_state=seed)
    return [(a, b) for a, b in splitter.split(rows)]


def training_rows(data: Dataset) -> tuple[object, np.ndarray]:
    """The training and validation splits' rows together: what folds split."""
    if is_table(data.x_train):
        import pandas as pd

        x: object = pd.concat([data.x_train, data.x_val], ignore_index=True)
    else:
        x = np.concatenate([np.asarray(data.x_train), np.asarray(data.x_val)])
    return x, np.concatenate([np.asarray(data.y_train), np.asarray(data.y_val)])


def fold_datasets(data: Dataset | Streams, k: int, *, seed: int = 0) -> list[Dataset]:
    """``data`` as ``k`` datasets: each fold validates once, the others train; test unchanged.

    Example:
        >>> from kerakit.data import split
        >>> data = split(np.eye(50, dtype="float32"), np.arange(50) % 2, val_size=0.2)
        >>> [len(f.x_val) for f in fold_datasets(data, 4)]
        [10, 10, 10, 10]

    Raises:
        DataError: for ``tf.data`` pipelines, whose rows cannot be folded.
        UsageError: for a bad ``k``.
    """
    if not isinstance(data, Dataset):
        raise DataError("Cannot cross-validate tf.data pipelines. Expected arrays, a table, a "
                        "registered dataset or an image folder, whose rows can be folded. "
                        f"Received: {type(data).__name__}")
    x, y = training_rows(data)
    take = (lambda rows: x.iloc[rows].reset_index(drop=True)) if is_table(x) else (
        lambda rows: x[rows])
    return [dataclasses.replace(data, x_train=take(train), y_train=y[train], x_val=take(val),
                                y_val=y[val])
            for train, val in fold_indices(y, k, task=data.task, seed=seed)]
