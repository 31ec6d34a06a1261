"""The data side of :mod:`kerakit.estimators`: features as the model takes them, row splits.

scikit-learn hands an estimator one ``X`` and one ``y``; kerakit trains on
train / validation splits, and a table model takes its raw columns by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from kerakit.data import is_table

__all__ = ["encode_features", "frame_of", "split_rows", "table_kinds"]


def frame_of(X: Any, estimator: Any = None) -> Any:
    """``X`` as a DataFrame with string column names (``x0``, ``x1``, ... for arrays).

    Example:
        >>> list(frame_of(np.zeros((2, 3))).columns)
        ['x0', 'x1', 'x2']
    """
    import pandas as pd

    if is_table(X):
        return X.rename(columns=str).reset_index(drop=True)
    array = np.asarray(X)
    names = getattr(estimator, "feature_names_in_", None)
    columns = [str(n) for n in names] if names is not None else \
        [f"x{i}" for i in range(array.shape[1])]
    return pd.DataFrame(array, columns=columns)


def table_kinds(frame: Any, *, numeric: bool = False,
                overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each column's kind: ``"numeric"`` for numbers, else inferred as ``kk.fit`` does.

    Unlike ``kk.fit``, a column of few distinct integers stays numeric: an
    array and the same numbers as a DataFrame give the same model, as
    scikit-learn expects. ``overrides`` (a declaration's ``columns``) still
    make integer codes categorical.

    Example:
        >>> table_kinds(frame_of(np.zeros((2, 2))), numeric=True)
        {'x0': 'numeric', 'x1': 'numeric'}
    """
    if numeric:
        return {str(c): "numeric" for c in frame.columns}
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    from kerakit.sources.tables import infer_columns

    numbers = {str(c): "numeric" for c in frame.columns
               if is_numeric_dtype(frame[c]) and not is_bool_dtype(frame[c])}
    return infer_columns(frame, [], {**numbers, **dict(overrides or {})}, "X")


def encode_features(X: Any, kinds: Mapping[str, str] | None, estimator: Any = None) -> Any:
    """``X`` as the model takes it: typed columns for a table model, else float32 arrays."""
    if kinds is None:
        return np.asarray(X, dtype="float32")
    from kerakit.sources.tables import encode_frame

    return encode_frame(frame_of(X, estimator), kinds, "X")


def split_rows(rows: int, fraction: float, seed: int,
               labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Row indices for training and validation, stratified by ``labels`` where possible.

    Validation always gets a row: a data set too small to spare one (a single
    row) validates on its training rows, so early stopping still has a curve.

    Example:
        >>> train, val = split_rows(10, 0.2, seed=0)
        >>> len(train), len(val)
        (8, 2)
    """
    from sklearn.model_selection import train_test_split

    everything = np.arange(rows)
    size = max(1, round(rows * float(fraction)))
    if rows < 2 or fraction <= 0 or size >= rows:
        return everything, everything
    try:
        train, val = train_test_split(everything, test_size=size, random_state=seed,
                                      stratify=labels)
    except ValueError:  # a class too rare to stratify: a plain shuffled split
        train, val = train_test_split(everything, test_size=size, random_state=seed)
    return np.sort(train), np.sort(val)
