"""Run an ONNX or LiteRT export with its own runtime only: no TensorFlow, Keras or kerakit.

This module imports nothing from kerakit, so it also runs as a script by its
path: that is how an export is verified, in a fresh process whose imports
are then checked (``python runtimes.py FORMAT MODEL SAMPLE OUT``). ``kerakit
predict`` uses :func:`open_runtime` in process.

An int8 model with integer inputs and outputs (``--int8-io``) takes and
gives float values here: they are quantized and dequantized with the
tensor's own scale and zero point, so callers never see the difference.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["RUNTIME_FILES", "RUNTIME_SUFFIXES", "open_runtime"]

#: export format -> (the model file in the export directory, the runtime's module)
RUNTIME_FILES = {"onnx": ("model.onnx", "onnxruntime"),
                 "litert": ("model.tflite", "ai_edge_litert")}
#: the model files' suffixes: a path ending in one names the export directory holding it
RUNTIME_SUFFIXES = frozenset(Path(file).suffix for file, _ in RUNTIME_FILES.values())


def open_runtime(format: str, path: str | Path) -> Callable[[Any], np.ndarray]:
    """A function from inputs (an array, or a dict of named columns) to the model's outputs.

    Args:
        format: ``"onnx"`` or ``"litert"``.
        path: The model file.

    Returns:
        ``run(x) -> np.ndarray``: float outputs, one row per input row.

    Raises:
        ValueError: for an unknown format.
        ImportError: when the runtime is not installed.

    Example:
        >>> run = open_runtime("litert", "exports/digits/model.tflite")  # doctest: +SKIP
        >>> run(x).shape  # doctest: +SKIP
        (16, 10)
    """
    if format == "onnx":
        return _onnx(str(path))
    if format == "litert":
        return _litert(str(path))
    raise ValueError(f"Invalid runtime format. Expected one of: {', '.join(RUNTIME_FILES)}. "
                     f"Received: {format!r}")


def _onnx(path: str) -> Callable[[Any], np.ndarray]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # warnings about unused initializers are not the user's
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(x: Any) -> np.ndarray:
        feed = {k: np.asarray(v) for k, v in x.items()} if isinstance(x, dict) \
            else {names[0]: np.asarray(x)}
        return np.asarray(session.run(None, feed)[0])

    return run


def _litert(path: str) -> Callable[[Any], np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    runner = interpreter.get_signature_runner()
    signature = interpreter.get_signature_list()["serving_default"]
    inputs = runner.get_input_details()
    output_name = signature["outputs"][0]
    output = runner.get_output_details()[output_name]

    def run(x: Any) -> np.ndarray:
        values = x if isinstance(x, dict) else {signature["inputs"][0]: x}
        feed = {name: _quantized(np.asarray(values[name]), inputs[name])
                for name in signature["inputs"]}
        return _dequantized(runner(**feed)[output_name], output)

    return run


def _quantized(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    scale, zero = detail["quantization"]
    if dtype.kind in "iu" and scale:
        limits = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zero), limits.min, limits.max).astype(dtype)
    return x.astype(dtype)


def _dequantized(y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    scale, zero = detail["quantization"]
    if np.asarray(y).dtype.kind in "iu" and scale:
        return ((np.asarray(y).astype("float32") - zero) * scale).astype("float32")
    return np.asarray(y)


def _verify(format: str, model: str, sample: str, out: str) -> None:
    """Run the model twice on the sample; save both answers; report what was imported."""
    if sample.endswith(".npz"):
        with np.load(sample, allow_pickle=False) as raw:
            x: Any = {k: raw[k] for k in raw.files}
    else:
        x = np.load(sample, allow_pickle=False)
    run = open_runtime(format, model)
    np.savez(out, outputs=run(x), again_outputs=run(x))
    print(json.dumps({"imported": sorted(m for m in ("tensorflow", "keras", "kerakit")
                                         if m in sys.modules)}))


if __name__ == "__main__":
    _verify(*sys.argv[1:5])
