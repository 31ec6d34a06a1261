"""Tables encoded inside the model (the columns are read in :mod:`kerakit.sources.tables`).

The encoding is a front-end of Keras preprocessing layers, adapted on the
training split only and built into the model: one named input per raw column,
so the model, its ``.keras`` file and its SavedModel take raw rows.

- numeric: ``Normalization``, then a missing value becomes 0, the training mean;
- categorical: ``StringLookup`` (or ``IntegerLookup`` for integer columns) with
  one out-of-vocabulary bucket, one-hot up to :data:`ONE_HOT_MAX` categories,
  an ``Embedding`` above; a missing value is ``""``, the lookup's mask token,
  a category of its own (all zeros one-hot, its own embedding row).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from kerakit.errors import DataError
from kerakit.sources.rows import input_names
from kerakit.sources.tables import MISSING

ONE_HOT_MAX = 64  # above this many categories, an embedding instead of one-hot

__all__ = ["ONE_HOT_MAX", "FillMissing", "as_tensors", "front_end", "model_inputs", "sample_rows",
           "vocabulary_sizes"]


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


# -- the model's front-end ------------------------------------------------------


def model_inputs(frame: Any) -> dict[str, Any]:
    """A typed table (see :func:`encode_frame`) as the model's named inputs.

    String columns become TensorFlow string tensors: Keras takes no numpy
    string arrays.
    """
    out, names = {}, input_names(frame.columns)
    for column in frame.columns:
        values = frame[column].to_numpy()
        if values.dtype.kind in "OUS":
            import tensorflow as tf

            values = tf.constant(values.astype(str))
        out[names[str(column)]] = values
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
    inputs, parts, adapted, names = {}, [], [], input_names(used)
    for column in used:
        key = names[str(column)]
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


def vocabulary_sizes(model: Any, columns: Mapping[str, str]) -> dict[str, int]:
    """How many categories each categorical column's lookup learned, by column.

    The lookups are the model's own record of what training saw; the
    out-of-vocabulary bucket and the mask token are not counted.

    Example:
        >>> vocabulary_sizes(model, {"island": "categorical"})  # doctest: +SKIP
        {'island': 3}

    Args:
        model: A table model built by :func:`front_end` (possibly wrapped).
        columns: Each raw column's kind, as the declaration records them.

    Returns:
        ``{column: size}`` for each categorical column whose lookup is found.
    """
    used = [c for c, k in columns.items() if k != "ignore"]
    layers = {layer.name: layer for layer in _all_layers(model)}
    sizes = {}
    for column, key in input_names(used).items():
        lookup = layers.get(f"{key}_lookup")
        if columns[column] == "categorical" and lookup is not None \
                and hasattr(lookup, "get_vocabulary"):
            sizes[column] = len(lookup.get_vocabulary(include_special_tokens=False))
    return sizes


def _all_layers(model: Any) -> list[Any]:
    """Every layer of ``model``, those of nested models too."""
    found = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        found.extend(_all_layers(layer))
    return found


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
