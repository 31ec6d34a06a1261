"""Raw table rows read without Keras: table files, and rows for a table export.

``kerakit predict EXPORT rows.csv`` reads here, so predicting from an export
loads pandas and TensorFlow but not Keras.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kerakit.errors import DataError

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")

__all__ = ["TABLE_SUFFIXES", "input_name", "is_table_path", "read_rows", "read_table"]


def is_table_path(data: Any) -> bool:
    """Whether ``data`` is a path to a table file kerakit reads."""
    return isinstance(data, (str, Path)) and Path(data).suffix.lower() in TABLE_SUFFIXES


def read_table(path: str | Path) -> Any:
    """Read a ``.csv``, ``.tsv`` or ``.parquet`` file into a DataFrame.

    Example:
        >>> frame = read_table("penguins.csv")  # doctest: +SKIP

    Args:
        path: The file.

    Returns:
        A pandas DataFrame.

    Raises:
        DataError: for a missing, empty or unreadable file, or duplicate column names.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"Invalid data path {str(path)!r}. Expected an existing .csv, .tsv or "
                        ".parquet file. Received: no such file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
            names = [str(c) for c in frame.columns]
        else:
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            header = pd.read_csv(path, sep=sep, header=None, nrows=1)
            names = [str(c) for c in header.iloc[0].tolist()]
            frame = pd.read_csv(path, sep=sep)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"Invalid data file {str(path)!r}. Expected a header row and at least "
                        "one row of data. Received: an empty file") from exc
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"Cannot read {str(path)!r} as a table: {exc}") from exc
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DataError(f"Invalid data file {str(path)!r}. Expected unique column names. "
                        f"Received: duplicates {duplicates}")
    if not len(frame):
        raise DataError(f"Invalid data file {str(path)!r}. Expected at least one row of data. "
                        f"Received: only the header ({', '.join(names)})")
    return frame


def input_name(column: str) -> str:
    """A column's name as a model input and signature key (letters, digits, ``_.-``)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]", "_", column)
    return cleaned if cleaned[:1].isalpha() else f"c_{cleaned}"


def read_rows(path: str | Path, inputs: Sequence[Mapping[str, Any]],
              columns: Mapping[str, str] | None = None) -> tuple[dict[str, np.ndarray], list]:
    """Rows of a table file, typed for a table export's named inputs.

    A missing column is an error naming it; extra columns (the target, say)
    are ignored with a note on stderr. Missing numbers become NaN (the model
    fills them in); missing categories become ``""``.

    Args:
        path: A ``.csv``, ``.tsv`` or ``.parquet`` file.
        inputs: The export manifest's ``inputs``: name, shape and dtype of each.
        columns: The declaration's column kinds, keyed by the raw column names.

    Returns:
        ``(arrays, index)``: one array per input, and each row's index.

    Raises:
        DataError: for an unreadable file, a missing column or text in a numeric column.
    """
    frame = read_table(path)
    by_input = {input_name(str(c)): str(c) for c in frame.columns}
    wanted = [spec["name"] for spec in inputs]
    raw_names = {input_name(c): c for c in (columns or {})}
    missing = [raw_names.get(name, name) for name in wanted if name not in by_input]
    if missing:
        raise DataError(f"Invalid input file {str(path)!r}: column {missing[0]!r} is missing. "
                        f"Expected the columns {[raw_names.get(n, n) for n in wanted]}. "
                        f"Received: {list(map(str, frame.columns))}")
    extra = sorted(set(by_input) - set(wanted))
    if extra:
        print(f"note: ignoring columns the model does not take: "
              f"{', '.join(by_input[e] for e in extra)}", file=sys.stderr)
    arrays = {}
    for spec in inputs:
        column = by_input[spec["name"]]
        values = frame[column]
        if spec["dtype"] == "string":
            arrays[spec["name"]] = np.asarray(["" if _missing(v) else str(v)
                                               for v in values.tolist()])
            continue
        import pandas as pd

        numbers = pd.to_numeric(values, errors="coerce")
        bad = (numbers.isna() & values.notna()).to_numpy().nonzero()[0]
        if bad.size or (spec["dtype"].startswith("int") and numbers.isna().any()):
            row = int(bad[0]) if bad.size else int(numbers.isna().to_numpy().nonzero()[0][0])
            raise DataError(f"Invalid value in column {column!r} of {str(path)!r}. Expected "
                            f"{'an integer' if spec['dtype'].startswith('int') else 'a number'}"
                            f". Received: {values.iloc[row]!r} at row {row}")
        arrays[spec["name"]] = numbers.to_numpy(dtype="float64", na_value=np.nan).astype(
            spec["dtype"])
    return arrays, frame.index.tolist()


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
