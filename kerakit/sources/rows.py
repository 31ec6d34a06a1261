"""Raw table rows read without Keras, typed for a table export's named inputs.

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
from kerakit.sources.formats import read_table

__all__ = ["input_name", "read_rows"]


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
