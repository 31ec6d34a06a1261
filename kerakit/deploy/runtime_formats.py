"""ONNX and LiteRT exports: converted from the SavedModel, verified with their runtime only.

Both formats are converted from the same SavedModel the ``saved_model``
format writes (:func:`kerakit.deploy.export_formats.write_archive`): ONNX with
tf2onnx's converter, LiteRT with TensorFlow's, optionally quantized. The file
is then run in a fresh process that imports only its runtime
(:mod:`kerakit.deploy.runtimes`, run as a script) and compared with the Keras
model on held-out rows:

- float LiteRT and ONNX: largest absolute difference at most 1e-5;
- float16: at most 1e-2;
- dynamic and int8: the predicted class agrees on at least 99% of the rows
  (for a regressor: R² against the float model's outputs at least 0.99), and,
  where the rows have labels, the test metric (accuracy, or R²) is within 0.01
  of the float model's.

Only then does the export directory (the model file, its manifest, its model
card) go in place.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from kerakit.deploy.export_files import Export
from kerakit.deploy.export_formats import model_input, plain_env, run_verifier, write_archive
from kerakit.deploy.export_job import CALIBRATION_ROWS, ExportJob, seal
from kerakit.deploy.runtimes import RUNTIME_FILES
from kerakit.errors import ExportError
from kerakit.fileops import exchange_or_move, temp_dir_beside

__all__ = ["TOLERANCES", "export_runtime"]

#: quantization -> largest absolute difference allowed; the others are checked by agreement
TOLERANCES = {"none": 1e-5, "float16": 1e-2}
MIN_AGREEMENT = 0.99
METRIC_TOLERANCE = 0.01
_EXTRAS = {"onnx": "pip install 'kerakit[onnx]'", "litert": "pip install 'kerakit[litert]'"}


def export_runtime(format: str, model: Any, target: Path, manifest: dict[str, Any],
                   job: ExportJob) -> Export:
    """Convert, verify in a runtime-only process, then put the export directory in place.

    Args:
        format: ``"onnx"`` or ``"litert"``.
        model: The inference model.
        target: The export directory.
        manifest: The export manifest so far.
        job: Rows to check with, quantization, the run for the card.

    Returns:
        The :class:`~kerakit.deploy.export_files.Export`.

    Raises:
        ExportError: for a model the format cannot hold, a missing runtime, a
            failed conversion or a failed check.

    Example:
        >>> export_runtime("litert", model, Path("exports/lite"), manifest, job)  # doctest: +SKIP
    """
    _check_convertible(format, model, manifest, job)
    work = temp_dir_beside(target)
    archive = temp_dir_beside(target)
    try:
        write_archive(model, manifest, archive)
        file = work / RUNTIME_FILES[format][0]
        if format == "onnx":
            _to_onnx(archive, file)
        else:
            _to_litert(archive, file, job)
        verification = _verify(format, file, model, manifest, job, target)
        manifest = {**manifest, "format": format, "file": file.name,
                    "quantization": job.quantize if format == "litert" else None,
                    "int8_io": job.int8_io, "verification": verification,
                    "verified_max_abs_diff": verification["max_abs_diff"]}
        seal(work, manifest, job.run_dir)
        exchange_or_move(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(archive, ignore_errors=True)
    return Export(target, format, manifest, verification["max_abs_diff"])


def _check_convertible(format: str, model: Any, manifest: dict[str, Any], job: ExportJob
                       ) -> None:
    import importlib.util

    needed = ("tf2onnx", "onnx", "onnxruntime") if format == "onnx" else ("ai_edge_litert",)
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise ExportError(f"{format} export needs {', '.join(missing)}. Expected the "
                          f"`{format}` extra: {_EXTRAS[format]}. Received: not installed")
    if isinstance(model.input, dict):
        kinds = manifest.get("columns") or {}
        looked_up = sorted({str(c) for c, kind in kinds.items() if kind == "categorical"}
                           | {k for k, v in model.input.items() if str(v.dtype) == "string"})
        if looked_up:
            raise ExportError(
                f"Cannot export this table model to {format}: the columns {looked_up} are "
                f"categories, which the model looks up in vocabularies {format} cannot hold. "
                "Expected a table of numeric columns. Export it as a SavedModel instead "
                "(--format saved_model), which keeps the lookups in the model."
            )
    if job.quantize == "int8" and job.calibration is None:
        raise ExportError(
            "Cannot calibrate an int8 export. Expected the run's training rows: its recorded "
            "data, or data= (--data). Received: no data, or data that can no longer be read"
        )


def _to_onnx(archive: Path, file: Path) -> None:
    # tf2onnx reads the SavedModel in its own process: a converted Keras function would
    # keep the preprocessing's constants as extra graph inputs, the SavedModel freezes them.
    result = subprocess.run(
        [sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(archive),
         "--signature_def", "serving_default", "--output", str(file)],
        capture_output=True, text=True, env=plain_env(),
    )
    if result.returncode != 0 or not file.is_file():
        raise ExportError(f"ONNX conversion failed: {result.stderr.strip()[-1500:]}")


def _to_litert(archive: Path, file: Path, job: ExportJob) -> None:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(archive), signature_keys=["serving_default"])
    # builtin ops only: the LiteRT runtime alone cannot run TensorFlow ("select") ops
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if job.quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if job.quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if job.quantize == "int8":
        converter.representative_dataset = _calibration(job.calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if job.int8_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    try:
        with warnings.catch_warnings():
            # int8 calibration runs TensorFlow's own interpreter, which warns of its retirement
            warnings.filterwarnings("ignore", message=r".*tf\.lite\.Interpreter is deprecated")
            file.write_bytes(converter.convert())
    except Exception as exc:  # the converter raises its own ConverterError and others
        raise ExportError(f"LiteRT conversion failed: {type(exc).__name__}: "
                          f"{str(exc).strip()[-1500:]}") from exc


def _calibration(rows: Any) -> Any:
    """Calibration batches of one row, as the converter takes them (by input name for tables)."""
    def batches() -> Any:
        if isinstance(rows, dict):
            count = min(len(next(iter(rows.values()))), CALIBRATION_ROWS)
            for i in range(count):
                yield {k: np.asarray(v[i:i + 1]) for k, v in rows.items()}
        else:
            for i in range(min(len(rows), CALIBRATION_ROWS)):
                yield [np.asarray(rows[i:i + 1])]
    return batches


def _verify(format: str, file: Path, model: Any, manifest: dict[str, Any], job: ExportJob,
            target: Path) -> dict[str, Any]:
    """Run the file in a runtime-only process; compare with the Keras model."""
    expected = np.asarray(model.predict(model_input(job.sample), verbose=0))
    got = _run_fresh(format, file, job.sample, target)
    rows = len(expected)
    diff = float(np.abs(got - expected).max()) if rows else 0.0
    report: dict[str, Any] = {"runtime": RUNTIME_FILES[format][1], "rows": rows,
                              "rows_labelled": job.labels is not None, "max_abs_diff": diff}
    tolerance = TOLERANCES.get(job.quantize if format == "litert" else "none")
    if tolerance is not None:
        report["tolerance"] = tolerance
        if not diff <= tolerance:  # NaN fails too
            raise ExportError(f"Export verification failed: the {format} model differs from "
                              f"model.predict by {diff:.3g}. Expected at most {tolerance}.")
        return report
    return {**report, **_agreement(expected, got, manifest, job)}


def _agreement(expected: np.ndarray, got: np.ndarray, manifest: dict[str, Any],
               job: ExportJob) -> dict[str, Any]:
    """A quantized model's checks: agreement with the float model, and the test metric."""
    classifier = job.task == "classification" or bool(manifest.get("class_names"))
    measure = _accuracy if classifier else _r2
    agreement = measure(_labels(expected) if classifier else expected, got)
    report: dict[str, Any] = {"agreement": agreement, "min_agreement": MIN_AGREEMENT,
                              "metric": "accuracy" if classifier else "r2"}
    if not agreement >= MIN_AGREEMENT:  # NaN fails too
        what = "predicted class agrees on" if classifier else "R² against the float model is"
        raise ExportError(f"Export verification failed: the {job.quantize} model's {what} "
                          f"{agreement:.4f} of {len(expected)} rows. Expected at least "
                          f"{MIN_AGREEMENT}.")
    if job.labels is not None:
        by_row = np.asarray(job.labels).reshape(len(expected), -1)
        labels = by_row.ravel() if classifier else by_row
        float_metric, export_metric = measure(labels, expected), measure(labels, got)
        report.update(metric_float=float_metric, metric_export=export_metric,
                      metric_tolerance=METRIC_TOLERANCE)
        if not abs(float_metric - export_metric) <= METRIC_TOLERANCE:
            raise ExportError(
                f"Export verification failed: the {job.quantize} model's test "
                f"{report['metric']} is {export_metric:.4f}, the float model's "
                f"{float_metric:.4f}. Expected them within {METRIC_TOLERANCE}.")
    return report


def _labels(outputs: np.ndarray) -> np.ndarray:
    outputs = np.asarray(outputs)
    if outputs.ndim == 2 and outputs.shape[1] > 1:
        return outputs.argmax(axis=1)
    return (outputs.reshape(-1) > 0.5).astype(int)


def _accuracy(labels: np.ndarray, outputs: np.ndarray) -> float:
    """The share of rows whose predicted class (from ``outputs``) is ``labels``."""
    return float(np.mean(_labels(outputs) == np.asarray(labels).reshape(-1).astype(int)))


def _r2(reference: np.ndarray, outputs: np.ndarray) -> float:
    """R² of ``outputs`` against ``reference``; NaN (a failed check) for fewer than two rows."""
    from sklearn.metrics import r2_score

    if len(outputs) < 2:
        return float("nan")
    return float(r2_score(np.asarray(reference).reshape(len(outputs), -1),
                          np.asarray(outputs).reshape(len(outputs), -1)))


def _run_fresh(format: str, file: Path, sample: Any, target: Path) -> np.ndarray:
    """The file's outputs on ``sample`` from a process that imports only its runtime."""
    from kerakit.deploy import runtimes

    first, report = run_verifier([sys.executable, runtimes.__file__, format, str(file)],
                                 sample, target, f"the {format} model")
    if report["imported"]:
        raise ExportError(f"Export verification failed: running the {format} model "
                          f"imported {report['imported']}. Expected its runtime only.")
    return first
