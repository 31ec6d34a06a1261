"""Tables: CSV, TSV, Parquet and DataFrames read, understood and encoded inside the model.

Reading infers each column's kind (``"numeric"``, ``"categorical"`` or
``"ignore"``), which the declaration's ``columns`` may override per column,
and the task from the target. The encoding is a front-end of Keras
preprocessing layers, adapted on the training split only and built into the
model: one named input per raw column, so the model, its ``.keras`` file and
its SavedModel take raw rows.

- numeric: ``Normalization``, then a missing value becomes 0, the training mean;
- categorical: ``StringLookup`` (or ``IntegerLookup`` for integer columns) with
  one out-of-vocabulary bucket, one-hot up to :data:`ONE_HOT_MAX` categories,
  an ``Embedding`` above; a missing value is ``""``, the lookup's mask token,
  a category of its own (all zeros one-hot, its own embedding row).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kerakit.data import Dataset, split
from kerakit.errors import DataError
from kerakit.sources.rows import input_name, is_table_path, read_table

KINDS = ("numeric", "categorical", "ignore")
CATEGORY_MAX_INTEGERS = 10  # integer columns with at most this many values are categories
CLASSES_MAX_INTEGERS = 20  # integer targets with at most this many values are classes
ONE_HOT_MAX = 64  # above this many categories, an embedding instead of one-hot
MISSING = ""  # the category a missing value becomes

__all__ = [
    "KINDS",
    "FillMissing",
    "front_end",
    "infer_columns",
    "is_table_path",
    "model_inputs",
    "read_table",
    "table_dataset",
]


@keras.saving.register_keras_serializable(package="kerakit")
class FillMissing(keras.layers.Layer):
    """Replaces NaN with ``value`` (after standardisation, 0 is the training mean).

    Example:
        >>> import numpy as np
        >>> FillMissing()(np.array([[1.0], [np.nan]])).numpy().ravel().tolist()
        [1.0, 0.0]

    Args:
        value: What a missing value becomes.
    """

    def __init__(self, value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.value = float(value)

    def call(self, inputs: Any) -> Any:
        return keras.ops.where(keras.ops.isnan(inputs), self.value, inputs)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "value": self.value}


# -- reading --------------------------------------------------------------------


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
    present = values.dropna()
    distinct = present.nunique()
    if kind == "b":
        return "categorical"
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


def _to_numbers(values: Any) -> Any:
    import pandas as pd

    return pd.to_numeric(values, errors="coerce")


def numeric_values(values: Any, column: str, name: str = "data") -> np.ndarray:
    """A column as float32, missing values as NaN.

    Raises:
        DataError: naming the column and the first row holding text.
    """
    numbers = _to_numbers(values)
    bad = numbers.isna() & values.notna()
    if bad.any():
        row = bad.to_numpy().nonzero()[0][0]
        raise DataError(
            f"Invalid value in numeric column {column!r} of `{name}`. Expected a number or an "
            f"empty cell. Received: {values.iloc[row]!r} at row {row}"
        )
    array = numbers.to_numpy(dtype="float64", na_value=np.nan)
    if np.isinf(array).any():
        row = int(np.flatnonzero(np.isinf(array))[0])
        raise DataError(f"Invalid value in numeric column {column!r} of `{name}`. Expected a "
                        f"finite number. Received: {array[row]} at row {row}")
    return array.astype("float32")


def category_values(values: Any) -> np.ndarray:
    """A categorical column as int64 (integers without gaps) or strings, missing as ``""``."""
    if values.dtype.kind in "iu":
        return values.to_numpy(dtype="int64")
    return np.asarray([MISSING if _missing(v) else str(v) for v in values.tolist()])


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


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
            out[column] = category_values(frame[column])
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
    if task == "classification" and inferred_task == "regression" and len(targets) == 1:
        y = frame[targets[0]].to_numpy()
    data = split(x, y if (task or inferred_task) == "classification" else y.astype("float32"),
                 name=name, task=task or inferred_task, val_size=val_size,
                 test_size=test_size, seed=0, class_names=class_names)
    data.columns = {c: k for c, k in kinds.items()}
    data.feature_names = [c for c, k in kinds.items() if k != "ignore"]
    return data


# -- the model's front-end ------------------------------------------------------


def model_inputs(frame: Any) -> dict[str, Any]:
    """A typed table (see :func:`encode_frame`) as the model's named inputs.

    String columns become TensorFlow string tensors: Keras takes no numpy
    string arrays.
    """
    out = {}
    for column in frame.columns:
        values = frame[column].to_numpy()
        if values.dtype.kind in "OUS":
            import tensorflow as tf

            values = tf.constant(values.astype(str))
        out[input_name(column)] = values
    return out


def front_end(columns: Mapping[str, str], adapt_data: Any) -> tuple[dict[str, Any], Any, Any]:
    """Named raw inputs and their encoding, adapted on ``adapt_data`` (the training split).

    Returns:
        ``(inputs, encoded, adapt_encoded)``: a dict of ``keras.Input`` per used
        column, the encoded tensor (batch, width), and ``adapt_data`` encoded,
        for the preprocessors after it.

    Raises:
        DataError: without training data to adapt on, or a column that is missing.
    """
    if adapt_data is None or not hasattr(adapt_data, "columns"):
        raise DataError(
            "A table model is built from its training data. Expected the training split as a "
            "DataFrame (kk.fit and kk.tune pass it). Received: "
            f"{type(adapt_data).__name__}"
        )
    used = [c for c, k in columns.items() if k != "ignore"]
    missing = [c for c in used if c not in adapt_data.columns]
    if missing:
        raise DataError(f"Invalid data: column {missing[0]!r} is missing. Expected the columns "
                        f"{used}. Received: {list(adapt_data.columns)}")
    if keras.backend.backend() != "tensorflow" and any(columns[c] == "categorical"
                                                       for c in used):
        raise DataError(
            "Categorical table columns need the TensorFlow backend: StringLookup and "
            "IntegerLookup run TensorFlow ops. Expected KERAS_BACKEND=tensorflow, or only "
            f"numeric columns. Received: backend {keras.backend.backend()!r}"
        )
    inputs, parts, adapted = {}, [], []
    for column in used:
        key = input_name(column)
        values = adapt_data[column].to_numpy()
        if columns[column] == "numeric":
            inp = keras.Input(shape=(), dtype="float32", name=key)
            layers = _numeric_layers(key, values.astype("float32"))
        else:
            integer = values.dtype.kind in "iu"
            inp = keras.Input(shape=(), dtype="int64" if integer else "string", name=key)
            layers = _category_layers(key, values if integer else values.astype(str), integer)
        inputs[key] = inp
        x, a = inp, values
        for layer in layers:
            x = layer(x)
        parts.append(x)
        a = _run(layers, values if columns[column] == "numeric" or values.dtype.kind in "iu"
                 else values.astype(str))
        adapted.append(a)
    if len(parts) == 1:
        return inputs, parts[0], adapted[0]
    encoded = keras.layers.Concatenate(name="columns_encoded")(parts)
    return inputs, encoded, np.concatenate(adapted, axis=1)


def _numeric_layers(key: str, values: np.ndarray) -> list[Any]:
    reshape = keras.layers.Reshape((1,), name=f"{key}_column")
    norm = keras.layers.Normalization(name=f"{key}_standardize")
    present = values[~np.isnan(values)]
    norm.adapt(present[:, None] if len(present) else np.zeros((1, 1), "float32"))
    return [reshape, norm, FillMissing(name=f"{key}_fill_missing")]


def _category_layers(key: str, values: np.ndarray, integer: bool) -> list[Any]:
    lookup_class = keras.layers.IntegerLookup if integer else keras.layers.StringLookup
    vocabulary = np.unique(values)
    one_hot = len(vocabulary) <= ONE_HOT_MAX
    # A missing value ("") is the mask token: all zeros one-hot, or its own embedding row.
    # (As a vocabulary entry, "" would not survive saving.)
    masked = {} if integer else {"mask_token": MISSING}
    lookup = lookup_class(num_oov_indices=1, output_mode="one_hot" if one_hot else "int",
                          name=f"{key}_lookup", **masked)
    lookup.adapt(values)
    if one_hot:
        return [lookup]
    size = lookup.vocabulary_size()
    width = int(min(32, max(4, round(1.6 * size ** 0.56))))
    return [lookup, keras.layers.Embedding(size, width, name=f"{key}_embedding")]


def _run(layers: list[Any], values: np.ndarray) -> np.ndarray:
    out = []
    for start in range(0, len(values), 4096):
        x = values[start:start + 4096]
        for layer in layers:
            x = layer(x)
        out.append(np.asarray(keras.ops.convert_to_numpy(x), dtype="float32"))
    return np.concatenate(out, axis=0)


def as_tensors(columns: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Named column arrays for ``model.predict``: string columns as TensorFlow tensors."""
    out: dict[str, Any] = {}
    for key, values in columns.items():
        values = np.asarray(values)
        if values.dtype.kind in "OUS":
            import tensorflow as tf

            values = tf.constant(values.astype(str))
        out[key] = values
    return out


def sample_rows(model: Any, rows: int = 16) -> dict[str, np.ndarray]:
    """Seeded made-up rows for a table model's named inputs, to verify an export.

    Unknown strings and integers are fine: they fall into the lookups'
    out-of-vocabulary bucket.
    """
    rng = np.random.default_rng(0)
    out: dict[str, np.ndarray] = {}
    for key, tensor in model.input.items():
        dtype = str(tensor.dtype)
        if dtype == "string":
            out[key] = np.asarray([f"value_{i % 3}" for i in range(rows)])
        elif dtype.startswith("int"):
            out[key] = rng.integers(0, 4, size=rows).astype(dtype)
        else:
            out[key] = rng.normal(size=rows).astype(dtype)
    return out
