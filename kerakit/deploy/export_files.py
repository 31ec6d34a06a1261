"""An export on disk: its manifest, and the SHA-256 of every file it holds.

``predict`` and ``serve`` refuse an export whose files do not match its
manifest, so a half-copied or altered export is never served.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kerakit.errors import ExportError, KerakitError

__all__ = ["MANIFEST", "Export", "check_hashes", "file_hashes", "write_manifest"]

MANIFEST = "export_manifest.json"


@dataclass
class Export:
    """A finished export: where it is and what verification measured."""

    path: Path
    format: str
    manifest: dict[str, Any]
    max_abs_diff: float | None = None


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


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    """Record the hash of every file in ``manifest`` and write it into ``directory``."""
    manifest["files"] = file_hashes(directory)
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
