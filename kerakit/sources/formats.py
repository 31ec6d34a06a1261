"""The formats table: which reader a file suffix goes to, for training, prediction and the CLI.

A new table format is one row of :data:`TABLE_READERS`. Readers need pandas
(and pyarrow for Parquet) but never Keras, so predicting from an export and
the command line's checks stay light.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kerakit.errors import DataError

__all__ = ["ARRAY_SUFFIXES", "IMAGE_SUFFIXES", "TABLE_SUFFIXES", "is_table_path", "read_arrays",
           "read_table"]


def _read_delimited(path: Path, sep: str) -> tuple[Any, list[str]]:
    """One pass over a CSV or TSV file: the header row's names as written, then the rows.

    pandas renames a repeated header (``a``, ``a.1``), so the header is read
    from the same open file first, to refuse duplicates by their real names.
    """
    import pandas as pd

    with path.open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle, delimiter=sep), None)
        if header is None:
            raise pd.errors.EmptyDataError("no header")
        names = [str(n) for n in header]
        if len(set(names)) < len(names):
            return None, names
        frame = pd.read_csv(handle, sep=sep, header=None, names=names)
    return frame, names


def _read_parquet(path: Path) -> tuple[Any, list[str]]:
    import pandas as pd

    frame = pd.read_parquet(path)
    return frame, [str(c) for c in frame.columns]


#: file suffix -> reader of that format, returning ``(frame, header names)``
TABLE_READERS: dict[str, Callable[[Path], tuple[Any, list[str]]]] = {
    ".csv": lambda path: _read_delimited(path, ","),
    ".tsv": lambda path: _read_delimited(path, "\t"),
    ".parquet": _read_parquet,
    ".pq": _read_parquet,
}
TABLE_SUFFIXES = tuple(TABLE_READERS)
#: arrays kerakit reads: ``x`` and ``y``, or ``x_train``, ``y_train``, ... splits
ARRAY_SUFFIXES = (".npz",)
#: images kerakit decodes, in folders for training and one by one for prediction
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def is_table_path(data: Any) -> bool:
    """Whether ``data`` is a path to a table file kerakit reads."""
    return isinstance(data, (str, Path)) and Path(data).suffix.lower() in TABLE_READERS


def read_table(path: str | Path) -> Any:
    """Read a ``.csv``, ``.tsv`` or ``.parquet`` file into a DataFrame, in one pass.

    Example:
        >>> frame = read_table("penguins.csv")  # doctest: +SKIP

    Args:
        path: The file.

    Returns:
        A pandas DataFrame.

    Raises:
        DataError: for a missing, empty or unreadable file, another suffix, or
            duplicate column names.
    """
    import pandas as pd

    path = Path(path)
    expected = f"an existing {', '.join(TABLE_SUFFIXES)} file"
    if not path.is_file():
        raise DataError(f"Invalid data path {str(path)!r}. Expected {expected}. "
                        "Received: no such file")
    reader = TABLE_READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(f"Invalid table file {str(path)!r}. Expected {expected}. "
                        f"Received: a {path.suffix or 'suffix-less'} file")
    try:
        frame, names = reader(path)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"Invalid data file {str(path)!r}. Expected a header row and at least "
                        "one row of data. Received: an empty file") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"Cannot read {str(path)!r} as a table. Expected UTF-8 text. "
                        f"Received: {exc.reason} at byte {exc.start}") from exc
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


def read_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of a ``.npz`` file, read without unpickling anything.

    Raises:
        DataError: for an empty or unreadable file.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"Cannot read {str(path)!r} as a .npz file: {exc or 'empty file'}"
                        ) from exc
