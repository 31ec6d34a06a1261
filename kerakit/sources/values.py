"""The value checks every input gets: finite, within its dtype's range, integral for integers.

One function, :func:`checked_values`, checks arrays (``kerakit predict`` on
``.npy`` files, ``serve`` on array models) and table columns alike (training
on a table, ``kerakit predict`` on a table file, ``serve`` on table rows), so
an infinity, a ``1e39`` that float32 cannot hold, a fraction or an integer
beyond int64 is refused with its column and row named, never turned into NaN
predictions or a silently truncated or wrapped-around integer.
:func:`plain_numbers` turns what a reader holds (pandas' nullable integers,
Python integers, ``None``) into a NumPy array without losing integers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from kerakit.errors import DataError

__all__ = ["checked_values", "missing", "plain_numbers"]


def missing(value: Any) -> bool:
    """Whether a cell is missing: ``None``, NaN, or pandas' ``NA`` and ``NaT``.

    Example:
        >>> missing(None), missing(float("nan")), missing(0.0), missing("")
        (True, True, False, False)
    """
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def plain_numbers(values: Any) -> np.ndarray:
    """Numbers as a NumPy array: integers stay exact, a missing value becomes NaN.

    Example:
        >>> plain_numbers([1, None, 2.5]).tolist()
        [1.0, nan, 2.5]
        >>> plain_numbers([1, 2**63]).dtype
        dtype('uint64')

    Args:
        values: A NumPy array, a pandas Series (nullable dtypes too) or a list
            of Python numbers and ``None``.

    Returns:
        An array of kind int, uint or float. Integers beyond uint64 become
        float64 (beyond float64, its largest value), so the range check
        refuses them.

    Raises:
        DataError: for something that is not a number.
    """
    if hasattr(values, "isna") and hasattr(values, "to_numpy"):  # a pandas Series
        if values.dtype.kind in "iufb" and values.isna().any():
            return values.to_numpy(dtype="float64", na_value=np.nan)
        values = values.to_numpy()
    # A list as Python objects: NumPy would round [1, 2**63] to floats.
    array = np.asarray(values, dtype=object if isinstance(values, (list, tuple)) else None)
    if array.dtype.kind in "iuf":
        return array
    if array.dtype.kind == "b":
        return array.astype("int64")
    items = array.ravel().tolist()
    if all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        for dtype in ("int64", "uint64"):
            info = np.iinfo(dtype)
            if all(info.min <= v <= info.max for v in items):
                return np.asarray(items, dtype=dtype).reshape(array.shape)
    return np.asarray([_as_float(v) for v in items], dtype="float64").reshape(array.shape)


def _as_float(value: Any) -> float:
    if missing(value):
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise DataError(f"Invalid value. Expected a number. Received: {value!r}")
    try:
        return float(value)
    except OverflowError:  # an integer beyond float64: too large for any input dtype
        largest = float(np.finfo("float64").max)
        return -largest if value < 0 else largest


def checked_values(values: Any, dtype: Any, where: str = "input", column: str | None = None,
                   allow_missing: bool = False, first_row: int = 0) -> np.ndarray:
    """``values`` cast to ``dtype``, once every value fits it.

    Refused: infinity; NaN unless ``allow_missing`` (a table's missing number,
    which the model fills in); for a float dtype, a magnitude the dtype cannot
    hold (``1e39`` for float32); for an integer dtype, a fraction, a missing
    value, or a value outside the dtype's range.

    Example:
        >>> checked_values([1.0, float("nan")], "float32", allow_missing=True).tolist()
        [1.0, nan]
        >>> checked_values([1.0, float("inf")], "float32", "input file 'x.csv'", "x1")
        Traceback (most recent call last):
        ...
        kerakit.errors.DataError: Invalid input file 'x.csv': expected finite numbers in ...

    Args:
        values: What :func:`plain_numbers` takes.
        dtype: The dtype the model takes.
        where: The input, file or request, for errors.
        column: The table column the values are, named in errors with the row;
            ``None`` for an array (errors give the index).
        allow_missing: Let NaN through, for a float dtype.
        first_row: The row number of the first value in the whole table (a
            chunk of a larger one), so that errors number rows as it does.

    Returns:
        The values as a NumPy array of ``dtype``.

    Raises:
        DataError: naming the column (or the array), what was expected and the
            first value refused, with its row (or index).
    """
    target, array = np.dtype(dtype), plain_numbers(values)
    found = _first_refused(array, target, allow_missing)
    if found is None:
        with np.errstate(over="ignore", invalid="ignore"):
            return array.astype(target)
    expected, index = found
    noun = "integers" if target.kind in "iu" else "numbers" if column is not None else "values"
    if column is not None:
        noun += f" in column {column!r}"
    value = array[index].item()
    magnitude = "range" in expected and target.kind == "f"
    shown = f"a value of magnitude {abs(value):.3g}" if magnitude else \
        _shown(_original(values, index, value))
    if column is not None or array.ndim == 1:
        place = f"in row {first_row + index[0]}" if column is not None \
            else f"at index {index[0]}"
    else:
        place = f"at index {index}"
    raise DataError(f"Invalid {where}: expected {expected.format(noun=noun)}. "
                    f"Received: {shown} {place}")


def _first_refused(array: np.ndarray, target: np.dtype, allow_missing: bool
                   ) -> tuple[str, tuple[int, ...]] | None:
    """What the first refused value should have been (``{noun}`` to fill in), and its index."""
    checks: list[tuple[str, np.ndarray]] = []
    with np.errstate(invalid="ignore"):
        if array.dtype.kind == "f" and target.kind == "f":
            refused = np.isinf(array) if allow_missing else ~np.isfinite(array)
            checks.append(("finite {noun}", refused))
        elif array.dtype.kind == "f" and target.kind in "iu":
            checks.append(("{noun}, not a missing or infinite value", ~np.isfinite(array)))
            checks.append(("{noun}, not fractions", np.isfinite(array) & (array % 1 != 0)))
        if target.kind == "f":
            limit = float(np.finfo(target).max)
            checks.append((f"{{noun}} within {target}'s range (|x| <= {limit:.3g})",
                           np.abs(array.astype("float64")) > limit))
        elif target.kind in "iu":
            info = np.iinfo(target)
            over = array >= info.max + 1 if array.dtype.kind == "f" else array > info.max
            checks.append((f"{{noun}} within {target}'s range [{info.min}, {info.max}]",
                           over | (array < info.min)))
    for expected, refused in checks:
        if refused.any():
            return expected, tuple(int(i) for i in np.argwhere(refused)[0])
    return None


def _original(values: Any, index: tuple[int, ...], value: Any) -> Any:
    """The value as given (an integer beyond int64 exactly, or null), else as converted."""
    try:
        given = np.asarray(values, dtype=object)[index]
    except (ValueError, IndexError):
        return value
    exact = given is None or (isinstance(given, int) and not isinstance(given, bool))
    return given if exact else value


def _shown(value: Any) -> str:
    """A refused value as a person reads it: ``inf``, ``NaN``, ``null``, ``2008.7``."""
    if value is None:
        return "null"
    return "NaN" if isinstance(value, float) and math.isnan(value) else str(value)
