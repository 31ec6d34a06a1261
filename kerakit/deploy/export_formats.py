"""Each export format written beside its target, verified, then put in place.

A SavedModel is reloaded in a separate process that imports only TensorFlow
and compared with ``model.predict``; a ``.keras`` file is reloaded in safe
mode and compared the same way. Only then is the work directory swapped in,
so the target is always either absent, the previous complete export, or the
new verified one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from kerakit.deploy.export_files import Export
from kerakit.deploy.export_job import ExportJob, seal
from kerakit.errors import ExportError
from kerakit.fileops import exchange_or_move, temp_dir_beside

__all__ = ["TOLERANCE", "export_keras", "export_saved_model", "model_input", "plain_env",
           "run_verifier", "save_sample", "write_archive"]

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


def export_saved_model(model: Any, target: Path, manifest: dict[str, Any],
                        job: ExportJob) -> Export:
    import keras

    if keras.backend.backend() not in ("tensorflow", "jax"):
        raise ExportError(
            "SavedModel export needs the TensorFlow or JAX backend. Expected "
            f"KERAS_BACKEND=tensorflow or jax. Received: {keras.backend.backend()}"
        )
    work = temp_dir_beside(target)
    try:
        write_archive(model, manifest, work)
        expected = np.asarray(model.predict(model_input(job.sample), verbose=0))
        diff = _verify_saved_model(work, job.sample, expected, target)
        manifest = {**manifest, "format": "saved_model", "verified_max_abs_diff": diff,
                    "verification": {"runtime": "tensorflow", "rows": len(expected),
                                     "rows_labelled": job.labels is not None,
                                     "max_abs_diff": diff, "tolerance": TOLERANCE}}
        seal(work, manifest, job.run_dir)
        exchange_or_move(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Export(target, "saved_model", manifest, diff)


def write_archive(model: Any, manifest: dict[str, Any], directory: Path) -> None:
    """Write the model's SavedModel: ``serve`` (and ``serving_default``), and ``classify``.

    The signature takes the inputs the manifest names: one ``inputs`` tensor, or
    a table's columns by name, as TF Serving's row format sends them. ONNX and
    LiteRT are converted from this SavedModel too.

    Example:
        >>> write_archive(model, manifest, Path(".export.tmp"))  # doctest: +SKIP
    """
    import keras
    import tensorflow as tf

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
    archive.write_out(str(directory), verbose=False)


def _verify_saved_model(path: Path, sample: np.ndarray, expected: np.ndarray,
                        target: Path) -> float:
    """Reload in a separate process without kerakit (:func:`run_verifier`), and compare."""
    first, report = run_verifier([sys.executable, "-c", VERIFY_SCRIPT, str(path)], sample,
                                 target, "the SavedModel")
    if report["kerakit_imported"]:
        raise ExportError("Export verification failed: the reload imported kerakit.")
    diff = float(np.abs(first - expected).max())
    if diff > TOLERANCE:
        raise ExportError(
            f"Export verification failed: the reloaded SavedModel differs from "
            f"model.predict by {diff:.3g}. Expected at most {TOLERANCE}."
        )
    return diff


def run_verifier(command: list[str], sample: Any, target: Path, what: str
                 ) -> tuple[np.ndarray, dict[str, Any]]:
    """Run ``command SAMPLE OUT`` in a fresh process: its outputs, twice the same, and report.

    The command reads the sample (:func:`save_sample`), runs the export on it
    twice, saves ``outputs`` and ``again_outputs`` to ``OUT`` (``.npz``) and
    prints a JSON report as its last line. The exchange files live in a
    temporary directory beside ``target``, like the export's own, so a killed
    export leaves nothing in the system temp directory and the next export to
    ``target`` cleans them up.

    Example:
        >>> first, report = run_verifier(command, x, Path("exports/e"), "it")  # doctest: +SKIP

    Returns:
        The first run's outputs and the printed report.

    Raises:
        ExportError: when the process fails, or its two runs differ.
    """
    tmp = temp_dir_beside(target)
    try:
        sample_file = save_sample(sample, tmp)
        out = tmp / "y.npz"
        result = subprocess.run([*command, str(sample_file), str(out)],
                                capture_output=True, text=True, env=plain_env())
        if result.returncode != 0:
            raise ExportError(f"Export verification failed: {what} did not run in a separate "
                              f"process: {result.stderr.strip()[-1500:]}")
        report = json.loads(result.stdout.strip().splitlines()[-1])
        with np.load(out) as got:
            first, again = got["outputs"], got["again_outputs"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not np.array_equal(first, again):
        raise ExportError(
            f"Export verification failed: two runs of {what} on the same input differ (max "
            f"{float(np.abs(first - again).max()):.3g}). Is a random layer still in the graph?"
        )
    return first, report


def save_sample(sample: Any, directory: Path) -> Path:
    """Save raw inputs for a verifying process: ``x.npy``, or ``x.npz`` of a table's columns.

    Example:
        >>> save_sample(np.zeros((2, 3)), Path(tempfile.mkdtemp())).name  # doctest: +SKIP
        'x.npy'
    """
    if isinstance(sample, dict):
        file = directory / "x.npz"
        np.savez(file, **sample)
    else:
        file = directory / "x.npy"
        np.save(file, sample)
    return file


def model_input(sample: Any) -> Any:
    """A sample as ``model.predict`` takes it: a table's string columns as tensors."""
    if isinstance(sample, dict):
        from kerakit.engine.tables import as_tensors

        return as_tensors(sample)
    return sample


def export_keras(model: Any, target: Path, manifest: dict[str, Any],
                  job: ExportJob) -> Export:
    from kerakit.engine.saving import save_model

    if target.suffix != ".keras":
        raise ExportError(f"Invalid export path {str(target)!r}. Expected a file ending in "
                          f".keras. Received: suffix {target.suffix!r}")
    work = temp_dir_beside(target)
    try:
        file = work / target.name
        save_model(model, file, {**manifest, "format": "keras"})
        from kerakit.keras_gate import load_model

        reloaded = load_model(file)
        x = model_input(job.sample)
        diff = float(np.abs(reloaded.predict(x, verbose=0) - model.predict(x, verbose=0)).max())
        if diff > TOLERANCE:
            raise ExportError(f"Export verification failed: the reloaded model differs by "
                              f"{diff:.3g}. Expected at most {TOLERANCE}.")
        exchange_or_move(file, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Export(target, "keras", {**manifest, "format": "keras"}, diff)


def plain_env() -> dict[str, str]:
    """The environment for a verifying process: quiet TensorFlow, no start-up script."""
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.pop("PYTHONSTARTUP", None)
    return env
