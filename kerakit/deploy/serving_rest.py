"""TF Serving's REST bodies: status, metadata, ``:predict`` (row and columnar) and ``:classify``.

Each function takes a served model and the parsed JSON request and returns the
JSON answer TF Serving would give, or raises :class:`DataError` for a request
TF Serving would refuse with HTTP 400. A table model takes one named input per
raw column: rows are objects keyed by column (``{"island": "Dream", ...}``), and
a missing number may be ``null`` (the model fills it in).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from kerakit.deploy.batching import call_signature
from kerakit.deploy.predict import check_outputs, conform
from kerakit.deploy.served import ServedModel
from kerakit.errors import DataError
from kerakit.sources.values import checked_values


def status_body(model: ServedModel) -> dict[str, Any]:
    """A ``GetModelStatusResponse`` in its JSON form, as TF Serving answers it."""
    return {"model_version_status": [{"version": str(model.version), "state": "AVAILABLE",
                                      "status": {"error_code": "OK", "error_message": ""}}]}


def metadata_body(model: ServedModel) -> dict[str, Any]:
    """A ``GetModelMetadataResponse`` in its JSON form: the signature definitions."""
    return {"model_spec": {"name": model.name, "signature_name": "",
                           "version": str(model.version)},
            "metadata": {"signature_def": {
                "@type": "type.googleapis.com/tensorflow.serving.SignatureDefMap",
                "signature_def": model.signature_defs}}}


def predict_body(model: ServedModel, request: Any) -> dict[str, Any]:
    """Answer a ``:predict`` request in the row (``instances``) or columnar (``inputs``) format.

    Raises:
        DataError: for a request TF Serving would refuse with 400.
    """
    request = _object(request)
    signature, names = _signature(model, request.get("signature_name"))
    if ("instances" in request) == ("inputs" in request):
        raise DataError("Invalid request. Expected exactly one of `instances` (row format) or "
                        f"`inputs` (columnar format). Received: keys {sorted(request)}")
    if "instances" in request:
        rows = request["instances"]
        if not isinstance(rows, list) or not rows:
            raise DataError("Invalid `instances`. Expected a non-empty list. Received: "
                            f"{_kind(rows)}")
        if _is_table(names):
            outputs = _run_table(model, signature, _table_rows(rows, names, "instances"))
        else:
            if all(isinstance(row, dict) for row in rows):
                rows = [_named(row, names[0], f"instances[{i}]") for i, row in enumerate(rows)]
            outputs = _run(model, signature, rows, names[0])
        keys = sorted(outputs)
        if len(keys) == 1:
            return {"predictions": _plain(outputs[keys[0]])}
        return {"predictions": [{k: _plain(outputs[k][i]) for k in keys}
                                for i in range(len(rows))]}
    columns = request["inputs"]
    if _is_table(names):
        if not isinstance(columns, dict):
            raise DataError("Invalid `inputs` for a table model. Expected an object of columns "
                            f"({', '.join(names)}). Received: {_kind(columns)}")
        outputs = _run_table(model, signature, _table_columns(columns, names, "inputs"))
    else:
        if isinstance(columns, dict):
            columns = _named(columns, names[0], "inputs")
        outputs = _run(model, signature, columns, names[0])
    if len(outputs) == 1:
        return {"outputs": _plain(next(iter(outputs.values())))}
    return {"outputs": {k: _plain(v) for k, v in sorted(outputs.items())}}


def classify_body(model: ServedModel, request: Any) -> dict[str, Any]:
    """Answer a ``:classify`` request: label and score pairs for each example.

    Raises:
        DataError: for a request TF Serving would refuse with 400, or a model without classes.
    """
    request = _object(request)
    signature, names = _signature(model, request.get("signature_name"), "classify")
    outputs = model.signature_defs[signature].get("outputs", {})
    if not {"probabilities", "class_names"} <= set(outputs):
        raise DataError(f"Invalid request. Expected a classification signature (outputs "
                        f"`probabilities` and `class_names`). Received: signature_name="
                        f"{signature!r} with outputs {sorted(outputs)}")
    examples, context = request.get("examples"), request.get("context") or {}
    if not isinstance(examples, list) or not examples or not all(
            isinstance(e, dict) for e in examples):
        raise DataError("Invalid `examples`. Expected a non-empty list of objects. Received: "
                        f"{_kind(examples)}")
    if not isinstance(context, dict):
        raise DataError(f"Invalid `context`. Expected an object. Received: {_kind(context)}")
    rows = []
    for i, example in enumerate(examples):
        if set(example) & set(context):
            raise DataError(f"Invalid examples[{i}]: features in `context` must not appear in "
                            f"examples. Received: {sorted(set(example) & set(context))} in both")
        rows.append({**context, **example})
    if _is_table(names):
        result = _run_table(model, signature, _table_rows(rows, names, "examples"))
    else:
        rows = [_named(row, names[0], f"examples[{i}]") for i, row in enumerate(rows)]
        result = _run(model, signature, rows, names[0])
    labels, scores = result["class_names"], result["probabilities"]
    return {"result": [[[_text(label), float(score)] for label, score in zip(ls, ss, strict=True)]
                       for ls, ss in zip(labels, scores, strict=True)]}


def _object(request: Any) -> dict[str, Any]:
    if not isinstance(request, dict):
        raise DataError(f"Invalid request body. Expected a JSON object. Received: {_kind(request)}")
    return request


def _signature(model: ServedModel, name: Any, default: str = "serving_default"
               ) -> tuple[str, list[str]]:
    """The signature to run and its input names (one, or one per column of a table)."""
    if name is not None and not isinstance(name, str):
        raise DataError(f"Invalid `signature_name`. Expected a string, one of "
                        f"{sorted(model.signatures)}. Received: {_kind(name)}")
    name = name or default
    if name not in model.signatures:
        raise DataError(f"Invalid `signature_name`. Expected one of {sorted(model.signatures)}. "
                        f"Received: signature_name={name!r}")
    inputs = sorted(model.signature_defs[name].get("inputs", {}))
    if not inputs:
        raise DataError(f"Invalid signature {name!r} of model {model.name!r}: it takes no inputs")
    return name, inputs


def _is_table(names: list[str]) -> bool:
    """Whether the signature takes named table columns (one column too), not one ``inputs``."""
    return names != ["inputs"]


def _table_rows(rows: list[Any], names: list[str], where: str) -> dict[str, list[Any]]:
    """Row objects keyed by column (raw or input name) -> one list of values per input."""
    columns: dict[str, list[Any]] = {name: [] for name in names}
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DataError(f"Invalid {where}[{i}] for a table model. Expected an object of "
                            f"columns ({', '.join(names)}). Received: {_kind(row)}")
        values = _by_input_name(row, names, f"{where}[{i}]")
        for name in names:
            columns[name].append(values[name])
    return columns


def _table_columns(columns: dict[str, Any], names: list[str], where: str
                   ) -> dict[str, list[Any]]:
    """The columnar form: one list per column, all of one length."""
    values = _by_input_name(columns, names, where)
    lengths = set()
    for name in names:
        value = values[name]
        values[name] = value if isinstance(value, list) else [value]
        lengths.add(len(values[name]))
    if len(lengths) != 1 or 0 in lengths:
        raise DataError(f"Invalid {where}: expected columns of one non-zero length. "
                        f"Received lengths {sorted(lengths)}")
    return values


def _by_input_name(values: dict[str, Any], names: list[str], where: str) -> dict[str, Any]:
    from kerakit.sources.rows import match_inputs

    keyed = {name: values[key] for name, key in match_inputs(values, names, where).items()}
    missing = [n for n in names if n not in keyed]
    if missing:
        raise DataError(f"Invalid {where}: missing column `{missing[0]}`. Expected the columns "
                        f"{', '.join(names)}. Received: {', '.join(sorted(map(str, values)))}")
    extra = sorted(set(keyed) - set(names))
    if extra:
        raise DataError(f"Invalid {where}: unknown columns {extra}. Expected only "
                        f"{', '.join(names)}")
    return keyed


def _run_table(model: ServedModel, signature: str, columns: dict[str, list[Any]]
               ) -> dict[str, Any]:
    """Run a table signature: strings stay strings, a missing number (null) is NaN.

    Numbers get the checks every input gets (see :func:`checked_values`).
    """
    import tensorflow as tf
    from tensorflow.core.framework import types_pb2

    specs = model.signature_defs[signature]["inputs"]
    arrays = {}
    for name, values in columns.items():
        dtype = tf.as_dtype(types_pb2.DataType.Value(specs[name].get("dtype", "DT_FLOAT")))
        if dtype == tf.string:
            if not all(v is None or isinstance(v, (str, int, float, bool)) for v in values):
                raise DataError(f"Invalid column `{name}`: expected text values. "
                                f"Received: {_kind(values)}")
            array = np.asarray(["" if v is None else str(v) for v in values], dtype=object)
        else:
            bad = [v for v in values if v is not None and (
                isinstance(v, bool) or not isinstance(v, (int, float)))]
            if bad:
                raise DataError(f"Invalid column `{name}`: expected numbers (null when "
                                f"missing). Received: {bad[0]!r}")
            array = checked_values(values, dtype.as_numpy_dtype, "request", name,
                                   allow_missing=True)
        rank = len(specs[name].get("tensor_shape", {}).get("dim", [None]))
        arrays[name] = array.reshape((-1,) + (1,) * (rank - 1))
    return _finite(_call(model, signature, arrays))


def _named(values: dict[str, Any], input_name: str, where: str) -> Any:
    if input_name not in values:
        raise DataError(f"Invalid {where}: missing input `{input_name}`. Expected the key "
                        f"{input_name!r}. Received: keys {sorted(values)}")
    extra = sorted(set(values) - {input_name})
    if extra:
        raise DataError(f"Invalid {where}: unknown inputs {extra}. Expected only "
                        f"{input_name!r}")
    return values[input_name]


def _run(model: ServedModel, signature: str, values: Any, input_name: str) -> dict[str, Any]:
    try:
        array = np.asarray(values)
    except ValueError as exc:  # ragged nesting
        raise DataError(f"Invalid input `{input_name}`: expected a rectangular array. "
                        f"Received: {exc}") from exc
    x = conform(array, model.input_spec, f"input `{input_name}`")
    return _finite(_call(model, signature, {input_name: x}))


def _call(model: ServedModel, signature: str, arrays: dict[str, np.ndarray]
          ) -> dict[str, np.ndarray]:
    """The signature's outputs for one request's checked inputs, through the model's batcher."""
    if model.batcher is None:  # not served by an app (called directly)
        return call_signature(model, signature, arrays)
    return model.batcher.run(signature, arrays)


def _finite(outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The outputs, refused if any is NaN or infinite: JSON cannot carry them.

    Checked per request, after batching: only the request whose rows they are fails.
    """
    check_outputs(outputs, "request")
    return outputs


def _plain(value: Any) -> Any:
    value = np.asarray(value)
    if value.dtype.kind in "SO":
        return np.vectorize(_text, otypes=[object])(value).tolist()
    return value.tolist()


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {json.dumps(value)[:80]}"


@dataclass(frozen=True)
class Endpoint:
    """One of TF Serving's endpoints under ``/v1/models/NAME[/versions/N]``."""

    method: str
    # GET: answer(model); POST: answer(model, request), the request's parsed JSON body
    answer: Callable[..., dict[str, Any]]
    label: str  # its `method` label in the metrics


#: verb after the model's path -> its endpoint; a serve endpoint is one row
ENDPOINTS: dict[str, Endpoint] = {
    "": Endpoint("GET", status_body, "status"),
    "/metadata": Endpoint("GET", metadata_body, "metadata"),
    ":predict": Endpoint("POST", predict_body, "predict"),
    ":classify": Endpoint("POST", classify_body, "classify"),
}
