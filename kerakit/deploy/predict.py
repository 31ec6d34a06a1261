"""Predictions from an export: check its files, check the input, run ``serve``.

Only TensorFlow is needed; the export's manifest gives the input spec and the
class names.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from kerakit.deploy.exporting import check_hashes
from kerakit.deploy.runtimes import RUNTIME_FILES, RUNTIME_SUFFIXES, open_runtime
from kerakit.errors import DataError, ExportError
from kerakit.sources.formats import IMAGE_SUFFIXES
from kerakit.sources.values import checked_values


def read_input(path: str | Path, spec: dict[str, Any]) -> np.ndarray:
    """Read ``.npy``, ``.npz`` (array ``x`` or the first), ``.csv`` or an image file.

    Args:
        path: The input file.
        spec: The export's input spec: ``{"shape": [None, ...], "dtype": ...}``.

    Returns:
        A batch matching the spec.

    Raises:
        DataError: for an unreadable file, or a shape or dtype that does not match.
    """
    path = Path(path)
    shape = tuple(spec["shape"][1:])
    try:
        if path.suffix == ".npy":
            x = np.load(path, allow_pickle=False)
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                x = archive["x"] if "x" in archive.files else archive[archive.files[0]]
        elif path.suffix == ".csv":
            x = _read_csv(path)
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            x = _read_image(path, shape)
        else:
            raise DataError(
                f"Invalid input file {str(path)!r}. Expected .npy, .npz, .csv or an image "
                f"({', '.join(sorted(IMAGE_SUFFIXES))}). Received: suffix {path.suffix!r}"
            )
    except DataError:
        raise
    except EOFError as exc:
        raise DataError(f"Cannot read input file {str(path)!r}: it ended early ({exc}). "
                        f"Expected a complete {path.suffix} file. Received: an empty or "
                        "truncated one") from exc
    except (OSError, ValueError, KeyError, IndexError, zipfile.BadZipFile) as exc:
        raise DataError(f"Cannot read input file {str(path)!r}: {exc}") from exc
    return conform(x, spec, str(path))


def conform(x: np.ndarray, spec: dict[str, Any], where: str = "input") -> np.ndarray:
    """Check ``x`` against the spec; add a batch axis or unflatten rows where unambiguous.

    The values get the checks every input gets
    (:func:`kerakit.sources.values.checked_values`): finite, within the dtype's
    range, and integral for an integer dtype.

    Example:
        >>> conform(np.array([1.0, 2.0]), {"shape": [None, 2], "dtype": "float32"}).shape
        (1, 2)

    Args:
        x: The input.
        spec: The export's input spec: ``{"shape": [None, ...], "dtype": ...}``.
        where: The input, for errors.

    Returns:
        ``x`` cast to the spec's dtype, with a batch axis.

    Raises:
        DataError: naming the expected and received shape, dtype or value.
    """
    shape, dtype = tuple(spec["shape"][1:]), np.dtype(spec["dtype"])
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise DataError(f"Invalid {where}: expected numbers of dtype {dtype}. "
                        f"Received: dtype {x.dtype}")

    def fits(got: tuple) -> bool:  # None in the signature takes any size (an image model)
        return len(got) == len(shape) and all(e is None or e == g
                                              for e, g in zip(shape, got, strict=True))

    if fits(tuple(x.shape)):
        x = x[None]
    elif x.ndim == 2 and len(shape) > 1 and None not in shape \
            and x.shape[1] == int(np.prod(shape)):
        x = x.reshape((len(x), *shape))  # flattened rows, e.g. from a CSV
    if not fits(tuple(x.shape[1:])):
        raise DataError(f"Invalid {where}: shape does not match the export's signature. "
                        f"Expected (batch, {', '.join(map(str, shape))}). "
                        f"Received: {tuple(x.shape)}")
    return checked_values(x, dtype, where)


def predict(export_dir: str | Path, x: np.ndarray) -> dict[str, Any]:
    """Run an export's ``serve`` signature after checking its files and the input.

    Returns:
        ``{"outputs": array, "class_names": [...] or None}``.

    Raises:
        ExportError: if the export's files do not match its manifest.
        DataError: if the input does not match its signature.
    """
    directory = export_directory(export_dir)
    manifest = check_hashes(directory)
    return _serve(directory, manifest, conform(x, manifest["inputs"][0]))


def predict_file(export_dir: str | Path, path: str | Path) -> dict[str, Any]:
    """:func:`predict` on an input file (see :func:`read_input`); the files are hashed once.

    A table export (named column inputs) reads a table file instead, by
    column name (see :func:`kerakit.sources.rows.read_rows`); the result then
    carries each row's ``index``.
    """
    directory = export_directory(export_dir)
    manifest = check_hashes(directory)
    if manifest["inputs"][0]["name"] != "inputs":
        from kerakit.sources.rows import read_rows

        columns, index = read_rows(path, manifest["inputs"], manifest.get("columns"))
        return {**_serve(directory, manifest, columns), "index": index}
    return _serve(directory, manifest, read_input(path, manifest["inputs"][0]))


def export_directory(path: str | Path) -> Path:
    """The export directory for ``path``: the directory, or the one holding its model file.

    ``kerakit predict exports/lite/model.tflite`` and ``kerakit predict
    exports/lite`` name the same export; its manifest is checked either way.

    Example:
        >>> export_directory("exports/lite/model.tflite")
        PosixPath('exports/lite')
    """
    path = Path(path)
    if path.suffix in RUNTIME_SUFFIXES:
        return path.parent
    return path


def open_export(directory: Path, manifest: Mapping[str, Any]) -> Callable[[Any], np.ndarray]:
    """The export loaded once, with its own runtime: TensorFlow, ONNX Runtime or LiteRT.

    Example:
        >>> run = open_export(folder, check_hashes(folder))  # doctest: +SKIP
        >>> run(x).shape  # doctest: +SKIP
        (16, 10)

    Returns:
        ``run(x) -> outputs``, for an array or a dict of named columns.

    Raises:
        ExportError: when the export's runtime is not installed.
    """
    format = manifest.get("format")
    if format in RUNTIME_FILES:
        try:
            return open_runtime(format, directory / RUNTIME_FILES[format][0])
        except ImportError as exc:
            raise ExportError(f"Cannot run the {format} export {str(directory)!r}. Expected "
                              f"{RUNTIME_FILES[format][1]} installed. Received: {exc}") from exc
    import tensorflow as tf

    loaded = tf.saved_model.load(str(directory))  # held: `serve` alone loses its variables

    def run(x: Any) -> np.ndarray:
        x = {k: tf.constant(v) for k, v in x.items()} if isinstance(x, dict) else tf.constant(x)
        return loaded.serve(x)["outputs"].numpy()

    return run


def _serve(export_dir: Path, manifest: dict[str, Any], x: Any) -> dict[str, Any]:
    """Run the export on ``x`` and check its outputs."""
    outputs = open_export(export_dir, manifest)(x)
    check_outputs({"outputs": outputs}, "input")
    return {"outputs": outputs, "class_names": manifest.get("class_names")}


def check_outputs(outputs: dict[str, Any], where: str) -> None:
    """Refuse predictions holding NaN or infinity: they answer nothing, and JSON cannot carry them.

    The inputs are checked first, so this is the last line of defence, for a
    model that overflows on extreme but representable values.

    Example:
        >>> check_outputs({"outputs": np.array([[0.5, 0.5]])}, "input")

    Raises:
        DataError: naming the output and the first row that is not finite.
    """
    for name, value in outputs.items():
        array = np.asarray(value)
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            row = int(np.argwhere(~np.isfinite(array))[0][0])
            raise DataError(f"Invalid {where}: the model's output `{name}` for row {row} is not "
                            "finite. Expected inputs the model maps to finite numbers. "
                            f"Received: {np.ravel(array[row])[:4].tolist()}")


def format_predictions(result: dict[str, Any], fmt: str = "csv") -> str:
    """Predictions as CSV or JSON; with class names, the predicted class and each probability.

    Raises:
        ExportError: for duplicate class names, which would merge probability columns.
    """
    outputs, names = np.asarray(result["outputs"]), result.get("class_names")
    check_class_names(names)
    classify = names is not None and outputs.ndim == 2 and outputs.shape[1] == len(names)
    rows: list[dict[str, Any]] = []
    index = result.get("index")  # a table's row index, first in each prediction
    for i, row in enumerate(outputs):
        first = {"row": index[i]} if index is not None else {}
        if classify:
            best = int(np.argmax(row))
            shown = {"probability": float(row[best])} if index is not None else {}
            rows.append({**first, "class": names[best], **shown,
                         **{f"p_{n}": float(p) for n, p in zip(names, row, strict=True)}})
        else:
            rows.append({**first,
                         **{f"output_{i}": float(v) for i, v in enumerate(np.ravel(row))}})
    if fmt == "json":
        return json.dumps(rows, indent=2, allow_nan=False)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["output_0"])
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def check_class_names(names: Any) -> None:
    """Refuse class names that are not a list of distinct strings.

    Example:
        >>> check_class_names(["cat", "dog"])

    Raises:
        ExportError: naming the repeated names.
    """
    if names is None:
        return
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ExportError("Invalid `class_names` in the export manifest. Expected a list of "
                          f"strings. Received: {names!r}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ExportError(
            "Invalid `class_names` in the export manifest. Expected distinct names, one per "
            f"output column. Received: {', '.join(map(repr, repeated))} more than once"
        )


def _read_csv(path: Path) -> np.ndarray:
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    if rows and not _numeric(rows[0]):
        rows = rows[1:]  # a header
    if not rows:
        raise DataError(f"Invalid input file {str(path)!r}: expected numeric rows. Received: none")
    return np.array([[float(v) for v in r] for r in rows], dtype="float64")


def _numeric(row: list[str]) -> bool:
    try:
        [float(v) for v in row]
    except ValueError:
        return False
    return True


def _read_image(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    from kerakit.sources.images import open_image

    if len(shape) != 3:
        raise DataError(f"Invalid input: an image was given, but the model expects inputs of "
                        f"shape {shape}, not (height, width, channels).")
    height, width, channels = shape
    image = open_image(path).convert("L" if channels == 1 else "RGB")
    if height and width:
        image = image.resize((width, height))
    array = np.asarray(image, dtype="float32")
    return array.reshape((*array.shape[:2], channels))[None]
