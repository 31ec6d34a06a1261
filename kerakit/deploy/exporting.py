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
from kerakit.deploy.export_formats import WRITERS
from kerakit.errors import ExportError, KerakitError
from kerakit.runs.locks import hold_lock
from kerakit.runs.marker import check_replaceable, describe
from kerakit.runs.rundir import RUN_LAYOUT

# Export, MANIFEST and the hash checks keep their old home here too.
__all__ = ["FORMATS", "MANIFEST", "Export", "check_hashes", "export", "file_hashes"]

FORMATS = tuple(WRITERS)
def export(
    source: Any,
    path: str | Path,
    format: str = "saved_model",
    *,
    force: bool = False,
    sample: np.ndarray | None = None,
) -> Export:
    """Export a run or model for serving, verified after writing.

    Args:
        source: A :class:`kerakit.Run`, a run directory, a ``.keras`` file or a
            trained ``keras.Model``.
        path: Target directory (``saved_model``) or file (``keras``, ``onnx``).
        format: ``"saved_model"``, ``"keras"`` or ``"onnx"``.
        force: Replace an existing target (atomically).
        sample: A batch of raw inputs for verification; defaults to the run's
            test data when known, else random inputs.

    Returns:
        An :class:`Export`.

    Raises:
        ExportError: for an untrained model, a bad target, or a failed check.
        FileExistsError: if the target exists and ``force`` is false.

    Example:
        >>> export(run, "exports/digits")  # doctest: +SKIP
    """
    from kerakit.engine.builder import inference_model

    if format not in FORMATS:
        raise ExportError(f"Invalid format. Expected one of: {', '.join(FORMATS)}. "
                          f"Received: format={format!r}")
    target = Path(path)
    _check_target(target, format, force)
    model, info = _source(source)
    _check_trained(model, info)
    inference = inference_model(model)
    if sample is None:
        sample = _sample(inference, info)
    manifest = _manifest(inference, info)

    with hold_lock(target, "export target"):
        _check_target(target, format, force)  # again: the target may have changed meanwhile
        return WRITERS[format](inference, target, manifest, sample)


# -- sources --------------------------------------------------------------------


def _source(source: Any) -> tuple[Any, dict[str, Any]]:
    """The model and what is known about it: manifest, declaration, test metrics."""
    from kerakit.engine.saving import load, read_manifest
    from kerakit.runs.train import Run

    if isinstance(source, Run):
        manifest = read_manifest(source.dir) or {}
        return source.model, {"manifest": manifest, "declaration": source.declaration.to_dict(),
                              "metrics": source.metrics, "trained": bool(source.epochs_run)}
    if isinstance(source, (str, Path)):
        p = Path(source)
        model = load(p)
        info: dict[str, Any] = {"manifest": read_manifest(p) or {}, "trained": None}
        run_dir = p if p.is_dir() else p.parent
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
    if format == "saved_model" and target.is_file():
        raise ExportError(
            f"Invalid export path {str(target)!r}. Expected a directory for a SavedModel. "
            "Received: the path of an existing file"
        )
    if format != "saved_model" and target.is_dir():
        raise ExportError(
            f"Invalid export path {str(target)!r}. Expected a file path for format "
            f"{format!r}. Received: an existing directory"
        )
    if format == "saved_model":
        check_replaceable(target, "export", force, known=EXPORT_LAYOUT,
                          flag="force=True (--force)")
        return
    if not target.exists():
        return
    if not _is_export_file(target, format):
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


def _is_export_file(target: Path, format: str) -> bool:
    """Whether the file ``target`` is an earlier export, which ``force`` may replace."""
    import zipfile

    from kerakit.engine.saving import MANIFEST_MEMBER

    if format == "keras":
        try:
            with zipfile.ZipFile(target) as archive:
                return MANIFEST_MEMBER in archive.namelist()
        except (OSError, zipfile.BadZipFile):
            return False
    return target.suffix == ".onnx"  # an ONNX file has no room for a manifest


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
