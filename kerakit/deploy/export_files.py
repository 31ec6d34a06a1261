"""An export on disk: its manifest, and the SHA-256 and size of every file it holds.

``predict`` and ``serve`` refuse an export whose files do not match its
manifest, so a half-copied or altered export is never served. The names and
sizes are compared first, from the directory listing alone: a file that
should not be there (a 3 GB file linked in, say) is refused without being
read. The export's marker (:mod:`kerakit.runs.marker`) and the manifest
itself are not hashed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kerakit.deploy.model_card import CURVES, MODEL_CARD
from kerakit.deploy.runtimes import RUNTIME_FILES
from kerakit.errors import ExportError, KerakitError
from kerakit.runs.marker import MARKER, write_marker

__all__ = ["EXPORT_LAYOUT", "MANIFEST", "Export", "check_hashes", "file_hashes",
           "file_sizes", "write_manifest"]

MANIFEST = "export_manifest.json"
#: What an export directory may hold besides what its marker lists: a SavedModel's
#: files, an ONNX or LiteRT model file, the manifest, the model card and its plot.
EXPORT_LAYOUT = ("saved_model.pb", "fingerprint.pb", "variables", "assets",
                 *(file for file, _ in RUNTIME_FILES.values()), MANIFEST, MODEL_CARD, CURVES)
_CHUNK = 1 << 20


@dataclass
class Export:
    """A finished export: where it is and what verification measured."""

    path: Path
    format: str
    manifest: dict[str, Any]
    max_abs_diff: float | None = None


def file_sizes(directory: Path) -> dict[str, int]:
    """The size of every file under ``directory`` but the manifest and marker, by relative path.

    Only the listing is read, never a file's content.

    Example:
        >>> file_sizes(Path("nowhere"))
        {}
    """
    sizes = {}
    for file in sorted(p for p in directory.rglob("*") if p.is_file()):
        rel = file.relative_to(directory).as_posix()
        if rel not in (MANIFEST, MARKER):
            sizes[rel] = file.stat().st_size
    return sizes


def file_hashes(directory: Path) -> dict[str, str]:
    """SHA-256 of every file under ``directory`` but the manifest and marker, by relative path.

    Example:
        >>> file_hashes(Path("nowhere"))
        {}
    """
    return {rel: _sha256(directory / rel) for rel in file_sizes(directory)}


def _sha256(path: Path) -> str:
    """A file's SHA-256, read in chunks (an export's weights may not fit in memory twice)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_hashes(directory: Path) -> dict[str, Any]:
    """Read an export's manifest and check every file against it: names, sizes, then hashes.

    Example:
        >>> check_hashes(Path("exports/digits"))["format"]  # doctest: +SKIP
        'saved_model'

    Raises:
        ExportError: for a missing manifest, a missing, extra or altered file;
            a missing or extra file, or one of another size, is refused
            before any file is read.
    """
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise ExportError(f"Not a kerakit export: {str(directory)!r} has no {MANIFEST}.")
    manifest = _read_export_manifest(manifest_path)
    expected, sizes = manifest["files"], file_sizes(directory)
    missing = sorted(set(expected) - set(sizes))
    extra = sorted(set(sizes) - set(expected))
    recorded = manifest.get("sizes")
    if isinstance(recorded, dict):
        altered = sorted(k for k in set(expected) & set(sizes)
                         if isinstance(recorded.get(k), int) and recorded[k] != sizes[k])
    else:
        altered = []
    read = not (missing or extra or altered)  # only then is any file read, to hash it
    if read:
        altered = sorted(k for k in expected if expected[k] != _sha256(directory / k))
    if missing or altered or extra:
        unread = "" if read else " (by size; no file was read)"
        raise ExportError(
            f"Refusing to use the export {str(directory)!r}: its files do not match "
            f"{MANIFEST}. Missing: {missing or 'none'}; altered: {altered or 'none'}{unread}; "
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


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    """Record every file's hash and size in ``manifest``, write it, then mark the export.

    Example:
        >>> write_manifest(Path(".export.tmp-1-0badc0de"), manifest)  # doctest: +SKIP

    Args:
        directory: The finished export's work directory.
        manifest: The export's manifest; its ``files`` and ``sizes`` are filled in.
    """
    manifest["files"] = file_hashes(directory)
    manifest["sizes"] = file_sizes(directory)
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
    write_marker(directory, "export", entries=[p.name for p in directory.iterdir()])
