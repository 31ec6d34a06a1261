"""Export for deployment: SavedModel with preprocessing in and augmentation out.

Every SavedModel export is written to a temporary directory beside the
target, verified in a separate process that imports only TensorFlow, and then
swapped into place, so the target is always either absent, the previous
complete export, or the new verified one.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kerakit.errors import ExportError, KerakitError
from kerakit.fileops import exchange_or_move
from kerakit.runs.locks import hold_lock, pid_alive
from kerakit.runs.rundir import describe

FORMATS = ("saved_model", "keras", "onnx")
MANIFEST = "export_manifest.json"
TOLERANCE = 1e-5
VERIFY_SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf
path, sample, out = sys.argv[1:4]
loaded = tf.saved_model.load(path)
raw = np.load(sample)
# a table's sample is an .npz of named columns; arrays are one .npy
x = {k: tf.constant(raw[k]) for k in raw.files} if sample.endswith(".npz") else tf.constant(raw)
first = {k: v.numpy() for k, v in loaded.serve(x).items()}
second = {k: v.numpy() for k, v in loaded.serve(x).items()}
default = loaded.signatures["serving_default"]
np.savez(out, **first, **{"again_" + k: v for k, v in second.items()})
print(json.dumps({"kerakit_imported": "kerakit" in sys.modules,
                  "default_outputs": sorted(default.structured_outputs)}))
"""


@dataclass
class Export:
    """A finished export: where it is and what verification measured."""

    path: Path
    format: str
    manifest: dict[str, Any]
    max_abs_diff: float | None = None


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
        if format == "saved_model":
            return _export_saved_model(inference, target, manifest, sample)
        if format == "keras":
            return _export_keras(inference, target, manifest, sample)
        return _export_onnx(inference, target, manifest)


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
        if (run_dir / "declaration.json").exists():
            info["declaration"] = json.loads((run_dir / "declaration.json").read_text())
        if (run_dir / "metrics.json").exists():
            info["metrics"] = json.loads((run_dir / "metrics.json").read_text()).get("test")
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
    if not target.exists():
        return
    if not _is_export(target, format):
        raise FileExistsError(
            f"Invalid export path {str(target)!r}. Expected a new path, an empty directory or "
            f"a kerakit export to replace. Received: {describe(target)}, which is not a "
            "kerakit export. kerakit does not delete it, even with force; choose another path."
        )
    if not force:
        raise FileExistsError(
            f"The export target {str(target)!r} already exists. Use force=True (--force) to "
            "replace it."
        )


def _is_export(target: Path, format: str) -> bool:
    """Whether ``target`` is something an export may replace: an earlier export, or nothing."""
    import zipfile

    from kerakit.engine.saving import MANIFEST_MEMBER

    if target.is_dir():
        return not any(target.iterdir()) or (target / MANIFEST).is_file()
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


# -- writers --------------------------------------------------------------------


def _export_saved_model(model: Any, target: Path, manifest: dict[str, Any],
                        sample: np.ndarray) -> Export:
    import keras

    if keras.backend.backend() not in ("tensorflow", "jax"):
        raise ExportError(
            "SavedModel export needs the TensorFlow or JAX backend. Expected "
            f"KERAS_BACKEND=tensorflow or jax. Received: {keras.backend.backend()}"
        )
    import tensorflow as tf

    work = _workdir(target)
    try:
        specs = {spec["name"]: tf.TensorSpec([None, *spec["shape"][1:]], spec["dtype"],
                                             name=spec["name"]) for spec in manifest["inputs"]}
        # a table's signature takes each column by name, as TF Serving's row format sends them
        signature = [specs if isinstance(model.input, dict) else specs["inputs"]]
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serve", lambda x: {"outputs": model(x, training=False)},
                             input_signature=signature)
        names = manifest["class_names"]
        # The class-name signature uses TensorFlow string ops, which a JAX graph cannot hold.
        if keras.backend.backend() == "tensorflow" and manifest.get("task") == "classification" \
                and names and model.outputs[0].shape[-1] == len(names):
            labels = tf.constant(names)

            def classify(x: Any) -> dict[str, Any]:
                probabilities = model(x, training=False)
                best = tf.argmax(probabilities, axis=-1)
                return {"probabilities": probabilities,
                        "class_name": tf.gather(labels, best),
                        "class_names": tf.broadcast_to(labels, tf.shape(probabilities))}

            archive.add_endpoint("classify", classify, input_signature=signature)
        archive.write_out(str(work), verbose=False)
        expected = np.asarray(model.predict(_model_input(sample), verbose=0))
        diff = _verify_saved_model(work, sample, expected, target)
        manifest = {**manifest, "format": "saved_model", "verified_max_abs_diff": diff}
        _write_manifest(work, manifest)
        exchange_or_move(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Export(target, "saved_model", manifest, diff)


def _verify_saved_model(path: Path, sample: np.ndarray, expected: np.ndarray,
                        target: Path) -> float:
    """Reload in a separate process without kerakit; compare, and check determinism.

    The exchange files live in a temporary directory beside ``target``, like
    the export's own, so a killed export leaves nothing in the system temp
    directory and the next export to ``target`` cleans them up.
    """
    tmp = _workdir(target)
    try:
        sample_file = tmp / ("x.npz" if isinstance(sample, dict) else "x.npy")
        if isinstance(sample, dict):
            np.savez(sample_file, **sample)
        else:
            np.save(sample_file, sample)
        out = tmp / "y.npz"
        result = subprocess.run(
            [sys.executable, "-c", VERIFY_SCRIPT, str(path), str(sample_file), str(out)],
            capture_output=True, text=True, env=_plain_env(),
        )
        if result.returncode != 0:
            raise ExportError(f"Export verification failed: the SavedModel did not reload in a "
                              f"separate process: {result.stderr.strip()[-1500:]}")
        report = json.loads(result.stdout.strip().splitlines()[-1])
        if report["kerakit_imported"]:
            raise ExportError("Export verification failed: the reload imported kerakit.")
        with np.load(out) as got:
            first, again = got["outputs"], got["again_outputs"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not np.array_equal(first, again):
        raise ExportError(
            "Export verification failed: two calls on the same input differ (max "
            f"{float(np.abs(first - again).max()):.3g}). Is a random layer still in the graph?"
        )
    diff = float(np.abs(first - expected).max())
    if diff > TOLERANCE:
        raise ExportError(
            f"Export verification failed: the reloaded SavedModel differs from "
            f"model.predict by {diff:.3g}. Expected at most {TOLERANCE}."
        )
    return diff


def _model_input(sample: Any) -> Any:
    """A sample as ``model.predict`` takes it: a table's string columns as tensors."""
    if isinstance(sample, dict):
        from kerakit.engine.tables import as_tensors

        return as_tensors(sample)
    return sample


def _export_keras(model: Any, target: Path, manifest: dict[str, Any],
                  sample: np.ndarray) -> Export:
    from kerakit.engine.saving import save_model

    if target.suffix != ".keras":
        raise ExportError(f"Invalid export path {str(target)!r}. Expected a file ending in "
                          f".keras. Received: suffix {target.suffix!r}")
    work = _workdir(target)
    try:
        file = work / target.name
        save_model(model, file, {**manifest, "format": "keras"})
        import keras

        reloaded = keras.saving.load_model(file, safe_mode=True)
        x = _model_input(sample)
        diff = float(np.abs(reloaded.predict(x, verbose=0) - model.predict(x, verbose=0)).max())
        if diff > TOLERANCE:
            raise ExportError(f"Export verification failed: the reloaded model differs by "
                              f"{diff:.3g}. Expected at most {TOLERANCE}.")
        exchange_or_move(file, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Export(target, "keras", {**manifest, "format": "keras"}, diff)


def _export_onnx(model: Any, target: Path, manifest: dict[str, Any]) -> Export:
    try:
        import onnx  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as exc:
        raise ExportError(
            f"ONNX export needs the `onnx` extra: pip install 'kerakit[onnx]'. ({exc})"
        ) from exc
    work = _workdir(target)
    try:
        file = work / target.name
        model.export(str(file), format="onnx", verbose=False)
        exchange_or_move(file, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Export(target, "onnx", {**manifest, "format": "onnx"})


# -- files ----------------------------------------------------------------------


def file_hashes(directory: Path) -> dict[str, str]:
    """SHA-256 of every file under ``directory`` except the manifest, by relative path."""
    hashes = {}
    for file in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = file.relative_to(directory).as_posix()
        if rel != MANIFEST:
            hashes[rel] = hashlib.sha256(file.read_bytes()).hexdigest()
    return hashes


def check_hashes(directory: Path) -> dict[str, Any]:
    """Read an export's manifest and check every file against its hash.

    Raises:
        ExportError: for a missing manifest, a missing, extra or altered file.
    """
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise ExportError(f"Not a kerakit export: {str(directory)!r} has no {MANIFEST}.")
    manifest = _read_export_manifest(manifest_path)
    expected, actual = manifest["files"], file_hashes(directory)
    missing = sorted(set(expected) - set(actual))
    altered = sorted(k for k in set(expected) & set(actual) if expected[k] != actual[k])
    extra = sorted(set(actual) - set(expected))
    if missing or altered or extra:
        raise ExportError(
            f"Refusing to use the export {str(directory)!r}: its files do not match "
            f"{MANIFEST}. Missing: {missing or 'none'}; altered: {altered or 'none'}; "
            f"unexpected: {extra or 'none'}."
        )
    return manifest


def _read_export_manifest(path: Path) -> dict[str, Any]:
    """The manifest at ``path``, with the parts ``predict`` and ``serve`` rely on checked."""
    from kerakit.engine.saving import parse_json_object

    try:
        manifest = parse_json_object(path.read_bytes(), str(path))
    except KerakitError as exc:
        raise ExportError(str(exc)) from exc
    inputs = manifest.get("inputs")
    if not isinstance(manifest.get("files"), dict):
        problem = "`files` (the SHA-256 of each file) is missing or not an object"
    elif not (isinstance(inputs, list) and inputs and all(
            isinstance(i, dict) and isinstance(i.get("shape"), list)
            and isinstance(i.get("dtype"), str) and isinstance(i.get("name"), str)
            for i in inputs)):
        problem = "`inputs` is not a list of objects with a `name`, a `shape` and a `dtype`"
    else:
        return manifest
    raise ExportError(f"Invalid export manifest {str(path)!r}: {problem}. Expected the manifest "
                      "kerakit export wrote.")


def _write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    manifest["files"] = file_hashes(directory)
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))


def _workdir(target: Path) -> Path:
    """A fresh temporary directory beside ``target`` (same filesystem, so renames are atomic).

    Its name carries this process's pid. Temporary directories of ``target``
    whose process is gone (a killed export) are removed; a live one's never.
    """
    import os

    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.tmp-"
    for stale in target.parent.glob(f"{prefix}*"):
        owner = stale.name[len(prefix):].split("-", 1)[0]
        if owner.isdigit() and not pid_alive(int(owner)):
            shutil.rmtree(stale, ignore_errors=True)
    work = target.parent / f"{prefix}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    return work


def _plain_env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.pop("PYTHONSTARTUP", None)
    return env
