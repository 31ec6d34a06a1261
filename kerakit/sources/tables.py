"""Tables understood: each column's kind, the task and classes, typed columns, splits.

Reading infers each column's kind (``"numeric"``, ``"categorical"`` or
``"ignore"``), which the declaration's ``columns`` may override per column,
and the task from the target. Nothing here needs Keras: the encoding inside
the model is :mod:`kerakit.engine.tables`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kerakit.data import Dataset, split
from kerakit.errors import DataError
from kerakit.sources.formats import read_table
from kerakit.sources.values import checked_values, missing

KINDS = ("numeric", "categorical", "ignore")
CATEGORY_MAX_INTEGERS = 10  # integer columns with at most this many values are categories
CLASSES_MAX_INTEGERS = 20  # integer targets with at most this many values are classes
MISSING = ""  # the category a missing value becomes

__all__ = [
    "KINDS",
    "MISSING",
    "Analysis",
    "analyse_table",
    "category_values",
    "encode_frame",
    "infer_columns",
    "numeric_values",
    "split_table",
    "table_dataset",
    "target_values",
]


# -- understanding --------------------------------------------------------------


def infer_columns(frame: Any, targets: Sequence[str],
                  overrides: Mapping[str, str] | None = None, name: str = "data"
                  ) -> dict[str, str]:
    """Each non-target column's kind: ``"numeric"``, ``"categorical"`` or ``"ignore"``.

    Strings and booleans are categorical; integers with at most
    :data:`CATEGORY_MAX_INTEGERS` distinct values too; other numbers numeric.
    A column of distinct strings (free text) or a running integer (an ID) is
    ignored, with a warning. ``overrides`` wins for the columns it names.

    Example:
        >>> import pandas as pd
        >>> infer_columns(pd.DataFrame({"a": [1.5, 2.0], "b": ["x", "y"], "t": [0, 1]}), ["t"])
        {'a': 'numeric', 'b': 'categorical'}

    Raises:
        DataError: for an override naming an unknown column or kind, or text in
            a column that is otherwise numeric.
    """
    overrides = dict(overrides or {})
    for column, kind in overrides.items():
        if column not in frame.columns:
            raise DataError(f"Invalid `columns` entry {column!r}. Expected a column of `{name}`: "
                            f"{', '.join(map(str, frame.columns))}. Received: {column!r}")
        if kind not in KINDS:
            raise DataError(f"Invalid kind for column {column!r}. Expected one of: "
                            f"{', '.join(KINDS)}. Received: {kind!r}")
    kinds: dict[str, str] = {}
    for column in frame.columns:
        if column in targets:
            continue
        kind = overrides.get(column) or _infer_kind(frame[column], column, name)
        if kind == "numeric":
            numeric_values(frame[column], column, name)  # fails early on text
        kinds[str(column)] = kind
    used = [c for c, k in kinds.items() if k != "ignore"]
    if not used:
        raise DataError(f"Invalid data `{name}`. Expected at least one feature column besides "
                        f"the target. Received: columns {list(map(str, frame.columns))}")
    return kinds


def _infer_kind(values: Any, column: str, name: str) -> str:
    kind = values.dtype.kind
    if kind == "O" and _nested_row(values) is not None:
        warnings.warn(f"Column {column!r} of `{name}` holds lists or other nested values (a "
                      "Parquet list column, say): kerakit takes one number or category per "
                      "cell, so it is ignored. Flatten it into columns to use it.",
                      stacklevel=3)
        return "ignore"
    present = values.dropna()
    distinct = present.nunique()
    if kind == "b":
        return "categorical"
    if kind in "iu" and len(present) < len(values):
        return "numeric"  # integers with gaps (pandas' Int64), as a CSV file reads them
    if kind in "iu":
        steps = np.diff(present.to_numpy())
        running = distinct == len(values) > CLASSES_MAX_INTEGERS and bool(
            (steps > 0).all() or (steps < 0).all())
        if running:
            warnings.warn(f"Column {column!r} of `{name}` counts up by one from row to row, "
                          "like an ID: it is ignored. Set columns={" + repr(column) +
                          ": 'numeric'} to use it.", stacklevel=3)
            return "ignore"
        return "categorical" if distinct <= CATEGORY_MAX_INTEGERS else "numeric"
    if kind == "f":
        return "numeric"
    numbers = _to_numbers(present)
    if len(present) and numbers.notna().mean() >= 0.9:
        return "numeric"  # mostly numbers: the text in it is reported by numeric_values
    if len(present) > 20 and distinct > 0.9 * len(present):
        warnings.warn(f"Column {column!r} of `{name}` has a different value in almost every "
                      "row, like free text or an ID: it is ignored. Set columns={" +
                      repr(column) + ": 'categorical'} to use it.", stacklevel=3)
        return "ignore"
    return "categorical"


def _nested_row(values: Any) -> int | None:
    """The first row holding a list, array, mapping or set, if any."""
    for row, value in enumerate(values.tolist()):
        if isinstance(value, (list, tuple, dict, set, np.ndarray)):
            return row
    return None


def _check_flat(values: Any, column: str, name: str, kind: str) -> None:
    row = _nested_row(values) if values.dtype.kind == "O" else None
    if row is not None:
        raise DataError(f"Invalid value in {kind} column {column!r} of `{name}`. Expected one "
                        f"{'number' if kind == 'numeric' else 'category'} per cell. "
                        f"Received: {type(values.iloc[row]).__name__} {values.iloc[row]!r:.60} "
                        f"at row {row}")


def _to_numbers(values: Any) -> Any:
    import pandas as pd

    return pd.to_numeric(values, errors="coerce")


def numeric_values(values: Any, column: str, name: str = "data") -> np.ndarray:
    """A column as float32, missing values as NaN.

    Example:
        >>> import pandas as pd
        >>> numeric_values(pd.Series([1, None, 3], dtype="Int64"), "year").tolist()
        [1.0, nan, 3.0]

    Raises:
        DataError: naming the column and the first row holding text, infinity,
            or a number float32 cannot hold (see :func:`checked_values`).
    """
    _check_flat(values, column, name, "numeric")
    numbers = _to_numbers(values)
    bad = numbers.isna() & values.notna()
    if bad.any():
        row = bad.to_numpy().nonzero()[0][0]
        raise DataError(
            f"Invalid value in numeric column {column!r} of `{name}`. Expected a number or an "
            f"empty cell. Received: {values.iloc[row]!r} at row {row}"
        )
    return checked_values(numbers, "float32", f"data `{name}`", column, allow_missing=True)


def category_values(values: Any, column: str = "", name: str = "data") -> np.ndarray:
    """A categorical column as int64 (integers without gaps) or strings, missing as ``""``.

    Example:
        >>> import pandas as pd
        >>> category_values(pd.Series([2007, None], dtype="Int64")).tolist()
        ['2007', '']

    Raises:
        DataError: for an integer beyond int64, naming the column.
    """
    if values.dtype.kind in "iu" and not values.isna().any():
        return checked_values(values, "int64", f"data `{name}`", column)
    _check_flat(values, column, name, "categorical")
    return np.asarray([MISSING if missing(v) else str(v) for v in values.tolist()])


def encode_frame(frame: Any, columns: Mapping[str, str], name: str = "data") -> Any:
    """The used columns, typed for the model: float32, int64 or strings.

    Raises:
        DataError: for a missing column (naming it) or text in a numeric column.
    """
    import pandas as pd

    missing = [c for c, k in columns.items() if k != "ignore" and c not in frame.columns]
    if missing:
        raise DataError(f"Invalid data `{name}`: column {missing[0]!r} is missing. Expected the "
                        f"columns {[c for c, k in columns.items() if k != 'ignore']}. "
                        f"Received: {list(map(str, frame.columns))}")
    out = {}
    for column, kind in columns.items():
        if kind == "numeric":
            out[column] = numeric_values(frame[column], column, name)
        elif kind == "categorical":
            out[column] = category_values(frame[column], column, name)
    return pd.DataFrame(out, index=frame.index)


def target_values(frame: Any, targets: Sequence[str], name: str) -> tuple[Any, np.ndarray, str]:
    """Rows with a target, the target array and the task it implies.

    Rows whose target is missing are dropped, with a warning.

    Raises:
        DataError: for a missing target column (listing the columns), a target
            with one class, or several targets that are not all numeric.
    """
    for target in targets:
        if target not in frame.columns:
            raise DataError(f"Invalid target {target!r}. Expected one of the columns of "
                            f"`{name}`: {', '.join(map(str, frame.columns))}. "
                            f"Received: target={target!r}")
    missing = frame[list(targets)].isna().any(axis=1)
    if missing.any():
        warnings.warn(f"{int(missing.sum())} rows of `{name}` have no target value "
                      f"(first: row {int(missing.to_numpy().nonzero()[0][0])}); they are "
                      "left out.", stacklevel=3)
        frame = frame[~missing]
    if len(targets) > 1:
        ys = [numeric_values(frame[t], t, name) for t in targets]
        return frame, np.stack(ys, axis=1), "regression"
    values = frame[targets[0]]
    kind = values.dtype.kind
    classes = kind in "bOSUT" or (kind in "iu" and values.nunique() <= CLASSES_MAX_INTEGERS)
    if not classes and kind not in "iuf":
        classes = _to_numbers(values).isna().any()
    if classes:
        if values.nunique() < 2:
            raise DataError(f"Invalid target {targets[0]!r} of `{name}`. Expected at least two "
                            f"classes. Received: one class, {values.iloc[0]!r}")
        labels = values.to_numpy()
        if kind not in "iu":
            labels = np.asarray([str(v) for v in labels.tolist()])
        return frame, labels, "classification"
    return frame, numeric_values(values, targets[0], name)[:, None], "regression"


def table_dataset(
    frame: Any,
    target: str | Sequence[str],
    *,
    columns: Mapping[str, str] | None = None,
    name: str = "data",
    val_size: float = 0.15,
    test_size: float = 0.2,
    class_names: Sequence[str] | None = None,
    task: str | None = None,
) -> Dataset:
    """A DataFrame (or a table file) as a :class:`~kerakit.data.Dataset` with its columns' kinds.

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"size": [1.0, 2.0, 3.0, 4.0] * 10,
        ...                       "colour": ["red", "blue"] * 20, "label": ["a", "b"] * 20})
        >>> data = table_dataset(frame, "label")
        >>> data.task, data.class_names, data.columns
        ('classification', ['a', 'b'], {'size': 'numeric', 'colour': 'categorical'})

    Args:
        frame: A DataFrame, or a path to a ``.csv``, ``.tsv`` or ``.parquet`` file.
        target: The target column, or several (multi-output regression).
        columns: Kinds for some or all columns, overriding the inferred ones.
        name: Shown in errors.
        val_size, test_size: Fractions of the rows (split with seed 0).
        class_names: The classes, in the head's order, when the head declares them.
        task: The head's task, when it is known.

    Returns:
        A :class:`~kerakit.data.Dataset` whose splits are DataFrames of the used columns.

    Raises:
        DataError: for bad files, columns or targets, naming them.
    """
    if isinstance(frame, (str, Path)):
        name = str(frame) if name == "data" else name
        frame = read_table(frame)
    return split_table(analyse_table(frame, target, columns, name), val_size=val_size,
                       test_size=test_size, class_names=class_names, task=task)


@dataclass(frozen=True)
class Analysis:
    """A table understood: typed feature columns, targets, the task and each column's kind."""

    name: str
    x: Any
    y: np.ndarray
    raw_y: np.ndarray
    task: str
    kinds: dict[str, str]
    targets: tuple[str, ...]


def analyse_table(frame: Any, target: str | Sequence[str],
                  columns: Mapping[str, str] | None = None, name: str = "data") -> Analysis:
    """Check a DataFrame, infer its columns' kinds and task, and type its columns.

    Raises:
        DataError: for bad columns or targets, naming them.
    """
    if not hasattr(frame, "columns"):
        raise DataError(f"Invalid table. Expected a pandas DataFrame or a path. "
                        f"Received: {type(frame).__name__}")
    if not len(frame.columns) or not len(frame):
        raise DataError(f"Invalid data `{name}`. Expected rows and columns. Received: an "
                        f"empty table of shape {frame.shape}")
    duplicates = sorted({str(c) for c in frame.columns if list(frame.columns).count(c) > 1})
    if duplicates:
        raise DataError(f"Invalid data `{name}`. Expected unique column names. Received: "
                        f"duplicates {duplicates}")
    frame = frame.rename(columns=str).reset_index(drop=True)
    targets = [target] if isinstance(target, str) else list(target)
    if not targets:
        raise DataError("Invalid `target`. Expected a column name. Received: target=[]")
    frame, y, inferred_task = target_values(frame, targets, name)
    kinds = infer_columns(frame, targets, columns, name)
    x = encode_frame(frame.reset_index(drop=True), kinds, name)
    raw_y = frame[targets[0]].to_numpy() if len(targets) == 1 else y
    return Analysis(name, x, y, raw_y, inferred_task, kinds, tuple(targets))


def split_table(table: Analysis, *, val_size: float = 0.15, test_size: float = 0.2,
                class_names: Sequence[str] | None = None, task: str | None = None) -> Dataset:
    """An analysed table's stratified train / validation / test splits (seed 0).

    ``task`` is the head's: a classifier head on integer or numeric targets
    takes them as labels.
    """
    task = task or table.task
    y = table.y
    if task == "classification" and table.task == "regression" and len(table.targets) == 1:
        y = table.raw_y
    data = split(table.x, y if task == "classification" else y.astype("float32"),
                 name=table.name, task=task, val_size=val_size, test_size=test_size, seed=0,
                 class_names=class_names)
    data.columns = dict(table.kinds)
    data.feature_names = [c for c, k in table.kinds.items() if k != "ignore"]
    return data
