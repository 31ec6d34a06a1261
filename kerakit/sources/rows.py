"""Raw table rows read without Keras, typed for a table export's named inputs.

``kerakit predict EXPORT rows.csv`` reads here, so predicting from an export
loads pandas and TensorFlow but not Keras.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kerakit.errors import DataError
from kerakit.sources.formats import read_table
from kerakit.sources.values import checked_values, missing

__all__ = ["input_name", "input_names", "match_columns", "match_inputs", "read_rows",
           "typed_rows"]


def input_name(column: str) -> str:
    """A column's name as a model input and signature key (letters, digits, ``_.-``).

    ASCII names keep their letters (``bill length`` -> ``bill_length``); a name
    with other characters (``年龄``) gets a stable suffix from a hash of the
    whole name, so every Unicode header has its own input. Within one table
    :func:`input_names` also separates names that clean to the same one.

    Example:
        >>> input_name("bill length")
        'bill_length'
        >>> input_name("年龄") != input_name("收入")
        True
    """
    return _cleaned(column) if column.isascii() else _hashed(column)


def input_names(columns: Iterable[Any]) -> dict[str, str]:
    """Each column's input name, unique within the table.

    A column whose name is already a valid input name keeps it; others whose
    cleaned names collide (``bill length`` beside ``bill_length``) get a
    stable suffix from a hash of their own name.

    Example:
        >>> input_names(["bill length", "bill_length"])["bill_length"]
        'bill_length'
        >>> input_names(["bill length", "bill_length"])["bill length"].startswith("bill_length_")
        True

    Raises:
        DataError: if two columns still share a name (a hash collision).
    """
    names = [str(c) for c in columns]
    plain = [input_name(c) for c in names]
    out = {}
    for column, name in zip(names, plain, strict=True):
        clash = plain.count(name) > 1 and name != column
        out[column] = _hashed(column) if clash else name
    if len(set(out.values())) < len(out):
        raise DataError(f"Invalid column names: {names} do not map to distinct input names. "
                        f"Expected distinct names. Received: {out}")
    return out


def match_inputs(keys: Iterable[Any], wanted: Sequence[str], where: str) -> dict[str, str]:
    """Which given key (a file's column, a request's field) feeds each wanted input.

    A key is matched as :func:`input_names` named it at training: its hashed
    name first, else its cleaned name. Keys that match no input are left out.

    Raises:
        DataError: if two keys feed one input, naming both.
    """
    taken: dict[str, str] = {}
    for key in map(str, keys):
        name = _hashed(key) if _hashed(key) in wanted else input_name(key)
        if name in taken:
            raise DataError(f"Invalid {where}: the columns {taken[name]!r} and {key!r} both "
                            f"feed the input `{name}`. Expected one column per input. "
                            f"Received: both")
        taken[name] = key
    return taken


def _cleaned(column: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]", "_", column)
    return cleaned if cleaned[:1].isalpha() else f"c_{cleaned}"


def _hashed(column: str) -> str:
    digest = hashlib.sha1(column.encode("utf-8")).hexdigest()[:8]
    return f"{_cleaned(column)}_{digest}"


def read_rows(path: str | Path, inputs: Sequence[Mapping[str, Any]],
              columns: Mapping[str, str] | None = None) -> tuple[dict[str, np.ndarray], list]:
    """Rows of a table file, typed for a table export's named inputs.

    A missing column is an error naming it; extra columns (the target, say)
    are ignored with a note on stderr. Missing numbers become NaN (the model
    fills them in); missing categories become ``""``.

    Example:
        >>> arrays, index = read_rows("rows.csv", manifest["inputs"])  # doctest: +SKIP

    Args:
        path: A ``.csv``, ``.tsv`` or ``.parquet`` file.
        inputs: The export manifest's ``inputs``: name, shape and dtype of each.
        columns: The declaration's column kinds, keyed by the raw column names.

    Returns:
        ``(arrays, index)``: one array per input, and each row's index.

    Raises:
        DataError: for an unreadable file, a missing column, text in a numeric
            column, or a value the column's dtype cannot take (infinity, beyond
            float32, a fraction or a gap in an integer column), naming the column
            and the row.
    """
    frame = read_table(path)
    by_input = match_columns(frame.columns, inputs, columns, f"input file {str(path)!r}")
    return typed_rows(frame, inputs, by_input, str(path)), frame.index.tolist()


def match_columns(names: Iterable[Any], inputs: Sequence[Mapping[str, Any]],
                  columns: Mapping[str, str] | None, where: str) -> dict[str, str]:
    """Which of a table's columns feeds each of a table export's inputs.

    Extra columns (the target, say) are ignored with a note on stderr.

    Example:
        >>> match_columns(["x"], [{"name": "x"}], None, "input file 'rows.csv'")
        {'x': 'x'}

    Args:
        names: The table's column names.
        inputs: The export manifest's ``inputs``.
        columns: The declaration's column kinds, keyed by the raw column names,
            to name a missing column as the user wrote it.
        where: The table, for errors (``"input file 'rows.csv'"``).

    Returns:
        Input name -> column name, for every input.

    Raises:
        DataError: for a missing column, naming it and the columns expected.
    """
    names = list(names)
    wanted = [spec["name"] for spec in inputs]
    by_input = match_inputs(names, wanted, where)
    used = [c for c, kind in (columns or {}).items() if kind != "ignore"]
    raw_names = {name: c for c, name in input_names(used).items()}
    absent = [raw_names.get(name, name) for name in wanted if name not in by_input]
    if absent:
        raise DataError(f"Invalid {where}: column {absent[0]!r} is missing. "
                        f"Expected the columns {[raw_names.get(n, n) for n in wanted]}. "
                        f"Received: {list(map(str, names))}")
    extra = sorted(set(by_input) - set(wanted))
    if extra:
        # stdout may hold the predictions
        print(f"note: ignoring columns the model does not take: "
              f"{', '.join(by_input[e] for e in extra)}", file=sys.stderr)
    return {name: by_input[name] for name in wanted}


def typed_rows(frame: Any, inputs: Sequence[Mapping[str, Any]], by_input: Mapping[str, str],
               path: str, first_row: int = 0) -> dict[str, np.ndarray]:
    """A table's rows (a whole file, or one chunk of a larger one) as the export's inputs.

    Missing numbers become NaN (the model fills them in); missing categories
    become ``""``.

    Example:
        >>> import pandas as pd
        >>> typed_rows(pd.DataFrame({"x": [1, 2]}), [{"name": "x", "dtype": "float32"}],
        ...            {"x": "x"}, "rows.csv")["x"].tolist()
        [1.0, 2.0]

    Args:
        frame: A pandas DataFrame.
        inputs: The export manifest's ``inputs``.
        by_input: Input name -> column, from :func:`match_columns`.
        path: The table, named in errors.
        first_row: The row number of the frame's first row in the whole table,
            so that errors name a chunk's rows as the table numbers them.

    Returns:
        One array per input.

    Raises:
        DataError: for text in a numeric column, or a value the column's dtype
            cannot take, naming the column and the row.
    """
    arrays = {}
    for spec in inputs:
        column = by_input[spec["name"]]
        values = frame[column]
        if spec["dtype"] == "string":
            arrays[spec["name"]] = np.asarray(["" if missing(v) else str(v)
                                               for v in values.tolist()])
        else:
            arrays[spec["name"]] = _numbers(values, spec["dtype"], column, path, first_row)
    return arrays


def _numbers(values: Any, dtype: str, column: str, path: str, first_row: int = 0) -> np.ndarray:
    """A numeric column checked as every input is (see :func:`checked_values`)."""
    import pandas as pd

    numbers = pd.to_numeric(values, errors="coerce")
    bad = (numbers.isna() & values.notna()).to_numpy().nonzero()[0]
    if bad.size:
        row = int(bad[0])
        raise DataError(f"Invalid value in column {column!r} of {path!r}. Expected "
                        f"{'an integer' if dtype.startswith('int') else 'a number'}"
                        f". Received: {values.iloc[row]!r} at row {first_row + row}")
    # Integers beyond int64 are read as Python ints, which to_numeric rounds: check those.
    given = values.tolist() if values.dtype.kind == "O" else []
    exact = given and all(missing(v) or isinstance(v, (int, float)) for v in given)
    return checked_values(given if exact else numbers, dtype, f"input file {path!r}", column,
                          allow_missing=True, first_row=first_row)
