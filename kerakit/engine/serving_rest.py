"""TF Serving's REST bodies: status, metadata, ``:predict`` (row and columnar) and ``:classify``.

Each function takes a served model and the parsed JSON request and returns the
JSON answer TF Serving would give, or raises :class:`DataError` for a request
TF Serving would refuse with HTTP 400.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from kerakit.engine.predict import conform
from kerakit.errors import DataError

if TYPE_CHECKING:
    from kerakit.engine.serving import ServedModel


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
    signature, input_name = _signature(model, request.get("signature_name"))
    if ("instances" in request) == ("inputs" in request):
        raise DataError("Invalid request. Expected exactly one of `instances` (row format) or "
                        f"`inputs` (columnar format). Received: keys {sorted(request)}")
    if "instances" in request:
        rows = request["instances"]
        if not isinstance(rows, list) or not rows:
            raise DataError("Invalid `instances`. Expected a non-empty list. Received: "
                            f"{_kind(rows)}")
        if all(isinstance(row, dict) for row in rows):
            rows = [_named(row, input_name, f"instances[{i}]") for i, row in enumerate(rows)]
        outputs = _run(model, signature, rows, input_name)
        names = sorted(outputs)
        if len(names) == 1:
            return {"predictions": _plain(outputs[names[0]])}
        return {"predictions": [{k: _plain(outputs[k][i]) for k in names}
                                for i in range(len(rows))]}
    columns = request["inputs"]
    if isinstance(columns, dict):
        columns = _named(columns, input_name, "inputs")
    outputs = _run(model, signature, columns, input_name)
    if len(outputs) == 1:
        return {"outputs": _plain(next(iter(outputs.values())))}
    return {"outputs": {k: _plain(v) for k, v in sorted(outputs.items())}}


def classify_body(model: ServedModel, request: Any) -> dict[str, Any]:
    """Answer a ``:classify`` request: label and score pairs for each example.

    Raises:
        DataError: for a request TF Serving would refuse with 400, or a model without classes.
    """
    request = _object(request)
    signature, input_name = _signature(model, request.get("signature_name") or "classify")
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
        rows.append(_named({**context, **example}, input_name, f"examples[{i}]"))
    result = _run(model, signature, rows, input_name)
    labels, scores = result["class_names"], result["probabilities"]
    return {"result": [[[_text(label), float(score)] for label, score in zip(ls, ss, strict=True)]
                       for ls, ss in zip(labels, scores, strict=True)]}


def _object(request: Any) -> dict[str, Any]:
    if not isinstance(request, dict):
        raise DataError(f"Invalid request body. Expected a JSON object. Received: {_kind(request)}")
    return request


def _signature(model: ServedModel, name: Any) -> tuple[str, str]:
    name = name or "serving_default"
    if name not in model.signatures:
        raise DataError(f"Invalid `signature_name`. Expected one of {sorted(model.signatures)}. "
                        f"Received: signature_name={name!r}")
    inputs = model.signature_defs[name].get("inputs", {})
    if len(inputs) != 1:
        raise DataError(f"Invalid request for model {model.name!r}: its signature {name!r} takes "
                        f"several named inputs ({', '.join(sorted(inputs))}). Expected a model "
                        "with one input: kerakit serve does not serve table models yet.")
    return name, next(iter(inputs))


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
    import tensorflow as tf

    try:
        array = np.asarray(values)
    except ValueError as exc:  # ragged nesting
        raise DataError(f"Invalid input `{input_name}`: expected a rectangular array. "
                        f"Received: {exc}") from exc
    x = conform(array, model.input_spec, f"input `{input_name}`")
    outputs = model.signatures[signature](**{input_name: tf.constant(x)})
    return {k: v.numpy() for k, v in outputs.items()}


def _plain(value: Any) -> Any:
    value = np.asarray(value)
    if value.dtype.kind in "SO":
        return np.vectorize(_text, otypes=[object])(value).tolist()
    return value.tolist()


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {json.dumps(value)[:80]}"
