"""Export for deployment: SavedModel with preprocessing in and augmentation out.

:func:`export` finds the model and what is known about it (a run, a run
directory, a ``.keras`` file), checks the target, and hands both to the
format's writer in :mod:`kerakit.deploy.export_formats`, which verifies the
export before putting it in place. The manifest, file hashes and the
export's marker are in :mod:`kerakit.deploy.export_files`. ``force`` replaces
a SavedModel directory only when it carries an export's marker and holds
nothing kerakit did not write (:func:`kerakit.runs.marker.check_replaceable`).
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

import numpy as np

from kerakit.deploy.export_files import (
    EXPORT_LAYOUT,
    MANIFEST,
    Export,
    check_hashes,
    file_hashes,
)
from kerakit.deploy.export_formats import export_keras, export_saved_model
from kerakit.deploy.export_job import QUANTIZATIONS, ExportJob, held_out
from kerakit.deploy.runtimes import RUNTIME_FILES, RUNTIME_SUFFIXES
from kerakit.errors import ExportError, KerakitError
from kerakit.runs.locks import hold_lock
from kerakit.runs.marker import check_replaceable, describe
from kerakit.runs.rundir import RUN_LAYOUT

# Export, MANIFEST and the hash checks keep their old home here too.
__all__ = ["FORMATS", "MANIFEST", "Export", "check_hashes", "export", "file_hashes"]


def _runtime_writer(format: str) -> Any:
    def write(model: Any, target: Path, manifest: dict[str, Any], job: ExportJob) -> Export:
        from kerakit.deploy.runtime_formats import export_runtime

        return export_runtime(format, model, target, manifest, job)

    return write


#: export format -> its writer, called as ``writer(model, target, manifest, job)``
WRITERS = {
    "saved_model": export_saved_model,
    "keras": export_keras,
    "onnx": _runtime_writer("onnx"),
    "litert": _runtime_writer("litert"),
}
FORMATS = tuple(WRITERS)


def export(
    source: Any,
    path: str | Path,
    format: str = "saved_model",
    *,
    force: bool = False,
    sample: np.ndarray | None = None,
    quantize: str = "none",
    int8_io: bool = False,
    data: Any = None,
) -> Export:
    """Export a run or model for serving, verified after writing.

    Every export but ``keras`` is a directory: the model, ``export_manifest.json``
    (hashes, inputs, classes, what verification measured) and ``MODEL_CARD.md``.

    Args:
        source: A :class:`kerakit.Run`, a run directory, a ``.keras`` file or a
            trained ``keras.Model``.
        path: Target directory (``saved_model``, ``onnx``, ``litert``) or
            ``.keras`` file.
        format: ``"saved_model"``, ``"keras"``, ``"onnx"`` or ``"litert"``.
        force: Replace an existing target (atomically).
        sample: Raw inputs to verify with; by default the run's test rows, else made up.
        quantize: LiteRT only: ``"none"``, ``"dynamic"``, ``"float16"`` or
            ``"int8"`` (calibrated on the run's training rows).
        int8_io: With ``quantize="int8"``: integer inputs and outputs too.
        data: The run's data (anything :func:`kerakit.fit` takes), for the
            held-out rows and calibration; by default the data the run recorded
            is read again.

    Returns:
        An :class:`Export`.

    Raises:
        ExportError: for an untrained model, a bad target, or a failed check.
        FileExistsError: if the target exists and ``force`` is false.

    Example:
        >>> export(run, "exports/digits")  # doctest: +SKIP
    """
    from kerakit.engine.builder import inference_model

    _check_options(format, quantize, int8_io)
    target = Path(path)
    _check_target(target, format, force)
    model, info = _source(source)
    _check_trained(model, info)
    inference = inference_model(model)
    manifest = _manifest(inference, info)
    job = _job(inference, info, manifest, sample, data, format)
    job.quantize, job.int8_io = quantize, int8_io

    with hold_lock(target, "export target"):
        _check_target(target, format, force)  # again: the target may have changed meanwhile
        return WRITERS[format](inference, target, manifest, job)


def _check_options(format: str, quantize: str, int8_io: bool) -> None:
    for name, value, allowed in (("format", format, FORMATS),
                                 ("quantize", quantize, QUANTIZATIONS)):
        if value not in allowed:
            raise ExportError(f"Invalid {name}. Expected one of: {', '.join(allowed)}. "
                              f"Received: {name}={value!r}")
    if quantize != "none" and format != "litert":
        raise ExportError(f"Invalid quantization for {format}. Expected quantize='none' (only "
                          f"LiteRT exports are quantized). Received: {quantize!r}")
    if int8_io and quantize != "int8":
        raise ExportError("Invalid int8_io. Expected it with quantize='int8'. Received: "
                          f"quantize={quantize!r}")


def _job(model: Any, info: dict[str, Any], manifest: dict[str, Any], sample: Any,
         data: Any, format: str) -> ExportJob:
    """The rows to check with: the run's test rows for ONNX and LiteRT, else a small sample."""
    rows = held_out(info, data, model) if format in RUNTIME_FILES or data is not None else None
    if sample is None:  # the run's test rows, with their labels, else made-up rows
        sample = rows.x_test if rows else _sample(model, info)
        labels = rows.y_test if rows else None
    else:
        labels = None
    return ExportJob(_typed(sample, manifest), labels=labels,
                     calibration=_typed(rows.x_train, manifest) if rows else None,
                     run_dir=info.get("run_dir"),
                     task=manifest.get("task") or (rows.task if rows else None))


def _typed(x: Any, manifest: dict[str, Any]) -> Any:
    """Raw rows as the export's signature takes them: each input's dtype, numpy arrays."""
    dtypes = {spec["name"]: spec["dtype"] for spec in manifest["inputs"]}
    if isinstance(x, dict):
        return {k: np.asarray(v).astype(dtypes.get(k, "float32") if dtypes.get(k) != "string"
                                        else str) for k, v in x.items()}
    return np.asarray(x, dtype=dtypes.get("inputs", "float32"))


# -- sources --------------------------------------------------------------------


def _source(source: Any) -> tuple[Any, dict[str, Any]]:
    """The model and what is known about it: manifest, declaration, test metrics."""
    from kerakit.engine.saving import load, read_manifest
    from kerakit.runs.train import Run

    if isinstance(source, Run):
        manifest = read_manifest(source.dir) or {}
        return source.model, {"manifest": manifest, "declaration": source.declaration.to_dict(),
                              "metrics": source.metrics, "trained": bool(source.epochs_run),
                              "run_dir": Path(source.dir)}
    if isinstance(source, (str, Path)):
        p = Path(source)
        model = load(p)
        info: dict[str, Any] = {"manifest": read_manifest(p) or {}, "trained": None}
        run_dir = p if p.is_dir() else p.parent
        if RUN_LAYOUT.is_finished(run_dir):
            info["run_dir"] = run_dir
        if (run_dir / RUN_LAYOUT.declaration).exists():
            info["declaration"] = json.loads((run_dir / RUN_LAYOUT.declaration).read_text())
        if (run_dir / RUN_LAYOUT.metrics).exists():
            info["metrics"] = json.loads((run_dir / RUN_LAYOUT.metrics).read_text()).get("test")
        return model, info
    if hasattr(source, "predict") and hasattr(source, "layers"):
        return source, {"manifest": {}, "trained": None}
    raise ExportError(
        "Invalid source. Expected a kerakit Run, a run directory, a .keras file or a "
        f"keras.Model. Received: {type(source).__name__}"
    )


def _check_trained(model: Any, info: dict[str, Any]) -> None:
    trained = info.get("trained")
    if trained is None:
        optimizer = getattr(model, "optimizer", None)
        iterations = getattr(optimizer, "iterations", None)
        trained = iterations is not None and int(np.asarray(iterations)) > 0
    if not trained:
        raise ExportError(
            "Refusing to export an untrained model. Expected a model trained with "
            "kerakit.fit (or a compiled keras.Model with optimizer steps). Received: a model "
            "whose optimizer has taken no step"
        )


def _check_target(target: Path, format: str, force: bool) -> None:
    if format != "keras" and target.is_file():
        raise ExportError(
            f"Invalid export path {str(target)!r}. Expected a directory for format {format!r} "
            "(the model, its manifest and its model card). Received: the path of an existing "
            "file"
        )
    if format != "keras":
        if target.suffix in {".keras", *RUNTIME_SUFFIXES}:
            raise ExportError(
                f"Invalid export path {str(target)!r}. Expected a directory for format "
                f"{format!r}: the model file goes inside it, beside its manifest and model "
                f"card. Received: a path ending in {target.suffix!r}"
            )
        check_replaceable(target, "export", force, known=EXPORT_LAYOUT,
                          flag="force=True (--force)")
        return
    if target.is_dir():
        raise ExportError(
            f"Invalid export path {str(target)!r}. Expected a file path for format "
            f"{format!r}. Received: an existing directory"
        )
    if not target.exists():
        return
    if not _is_keras_export(target):
        raise FileExistsError(
            f"Invalid export path {str(target)!r}. Expected a new path or a kerakit export to "
            f"replace. Received: {describe(target)}, which is not a kerakit export. kerakit "
            "does not delete it, even with force; choose another path."
        )
    if not force:
        raise FileExistsError(
            f"The export target {str(target)!r} already exists. Use force=True (--force) to "
            "replace it."
        )


def _is_keras_export(target: Path) -> bool:
    """Whether the file ``target`` is an earlier ``.keras`` export, which ``force`` may replace."""
    import zipfile

    from kerakit.engine.saving import MANIFEST_MEMBER

    try:
        with zipfile.ZipFile(target) as archive:
            return MANIFEST_MEMBER in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def _sample(model: Any, info: dict[str, Any]) -> np.ndarray:
    """Up to 32 raw test inputs of the run's dataset, or seeded random inputs."""
    if isinstance(model.input, dict):  # named table columns
        from kerakit.engine.tables import sample_rows

        return sample_rows(model)
    shape = tuple(d or 8 for d in model.inputs[0].shape[1:])
    dtype = model.inputs[0].dtype
    name = info.get("manifest", {}).get("dataset")
    if name:
        try:
            from kerakit.registry.lookup import get_component

            data = get_component("datasets", name).create()
            if tuple(data.x_test.shape[1:]) == shape:
                return np.asarray(data.x_test[:32], dtype=dtype)
        except (KerakitError, ValueError):
            pass
    return np.random.default_rng(0).normal(size=(16, *shape)).astype(dtype)


def _manifest(model: Any, info: dict[str, Any]) -> dict[str, Any]:
    from kerakit.engine.saving import versions

    run_manifest = info.get("manifest") or {}
    return {
        **versions(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "format": None,
        "plugins": run_manifest.get("plugins", []),
        "components": run_manifest.get("components", []),
        "declaration": info.get("declaration"),
        "inputs": [{"name": name, "shape": [None, *tensor.shape[1:]], "dtype": str(tensor.dtype)}
                   for name, tensor in _named_inputs(model)],
        "columns": (info.get("declaration") or {}).get("columns"),
        "outputs": [{"name": "outputs", "shape": [None, *model.outputs[0].shape[1:]],
                     "dtype": str(model.outputs[0].dtype)}],
        "task": run_manifest.get("task"),
        "class_names": run_manifest.get("class_names") or _class_names(model),
        "test_metrics": info.get("metrics") or {},
        "files": {},
    }


def _named_inputs(model: Any) -> list[tuple[str, Any]]:
    """``("inputs", tensor)`` for one input; each named column's input for a table."""
    if isinstance(model.input, dict):
        return sorted(model.input.items())
    return [("inputs", model.inputs[0])]


def _class_names(model: Any) -> list[str] | None:
    head = model.layers[-1]
    names = getattr(head, "class_names", None)
    return list(names) if names else None
