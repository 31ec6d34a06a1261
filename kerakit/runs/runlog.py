"""The runs on disk: one row per run directory, and the difference between two runs.

Only the JSON records a run directory holds are read (``metrics.json``,
``manifest.json``, ``declaration.json``), so listing hundreds of runs never
imports TensorFlow or loads a model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kerakit.errors import UsageError
from kerakit.runs.rundir import RUN_LAYOUT

__all__ = ["diff_runs", "list_runs", "read_run"]


def list_runs(directory: str | Path = "runs") -> list[dict[str, Any]]:
    """One row per finished run directory under ``directory``, oldest first.

    Example:
        >>> list_runs("no-such-folder")
        []

    Args:
        directory: The folder holding run directories (``runs/`` by default).

    Returns:
        Rows with ``name``, ``dir``, ``when``, ``data``, ``test`` (test metrics),
        ``epochs``, ``seconds`` and ``plugins`` (third-party ``name version``).
        A run whose records cannot be read is listed with ``error`` (why) and
        empty fields, so one damaged run never hides the others.

    Raises:
        NotADirectoryError: if ``directory`` is a file.
    """
    root = Path(directory)
    if not root.exists():
        return []
    if not root.is_dir():
        raise NotADirectoryError(f"Invalid runs folder. Expected a directory of run "
                                 f"directories. Received: {str(root)!r} (a file)")
    rows = [_row_or_error(path) for path in sorted(root.iterdir())
            if RUN_LAYOUT.is_finished(path)]
    return sorted(rows, key=lambda row: (row["when"] or "", row["name"]))


def _row_or_error(path: Path) -> dict[str, Any]:
    """A run's row; an unreadable record gives a row with ``error`` instead of aborting."""
    try:
        return read_run(path)
    except UsageError as exc:
        return {"name": path.name, "dir": str(path), "when": None, "data": None, "test": {},
                "epochs": None, "seconds": None, "plugins": [], "error": str(exc)}


def read_run(directory: str | Path) -> dict[str, Any]:
    """The summary row of one run directory (see :func:`list_runs`).

    Raises:
        FileNotFoundError: if ``directory`` is not a finished kerakit run.
    """
    path = Path(directory)
    if not RUN_LAYOUT.is_finished(path):
        raise FileNotFoundError(f"Invalid run directory. Expected a folder holding "
                                f"{' and '.join(RUN_LAYOUT.finished)} (a finished kerakit run). "
                                f"Received: {str(path)!r}")
    metrics = _read_json(path / RUN_LAYOUT.metrics)
    manifest = _read_json(path / RUN_LAYOUT.manifest)
    plugins = sorted({f"{p.get('distribution') or p.get('name')} {p.get('version')}"
                      for p in manifest.get("plugins", []) if p.get("name") != "kerakit"})
    return {
        "name": path.name,
        "dir": str(path),
        "when": manifest.get("created"),
        "data": manifest.get("dataset"),
        "test": metrics.get("test") or {},
        "epochs": metrics.get("epochs_run"),
        "seconds": metrics.get("seconds"),
        "plugins": plugins,
    }


def diff_runs(a: str | Path, b: str | Path) -> dict[str, Any]:
    """How two runs differ: their declarations, key by key, and their results side by side.

    Args:
        a: One run directory.
        b: The other.

    Returns:
        ``{"a": ..., "b": ..., "declaration": [{"key", "a", "b"}, ...],
        "metrics": [{"metric", "a", "b"}, ...]}``; declaration keys are dotted
        paths (``blocks.0.params.filters``) and list only what differs.

    Raises:
        FileNotFoundError: if either is not a finished kerakit run.
    """
    rows = [read_run(a), read_run(b)]
    flat = [_flatten(_read_json(Path(r["dir"]) / RUN_LAYOUT.declaration)) for r in rows]
    declaration = [{"key": key, "a": flat[0].get(key), "b": flat[1].get(key)}
                   for key in sorted(set(flat[0]) | set(flat[1]))
                   if flat[0].get(key, _MISSING) != flat[1].get(key, _MISSING)]
    results = [{f"test_{k}": v for k, v in r["test"].items()}
               | {"epochs": r["epochs"], "seconds": r["seconds"], "data": r["data"]}
               for r in rows]
    names = [*results[0], *(k for k in results[1] if k not in results[0])]
    metrics = [{"metric": name, "a": results[0].get(name), "b": results[1].get(name)}
               for name in names]
    return {"a": rows[0]["dir"], "b": rows[1]["dir"], "declaration": declaration,
            "metrics": metrics}


_MISSING = object()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts and lists as ``{"dotted.key": leaf}``."""
    if isinstance(value, dict) and value:
        items = value.items()
    elif isinstance(value, list) and value:
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return {prefix: value} if prefix else {}
    out: dict[str, Any] = {}
    for key, item in items:
        out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UsageError(f"Invalid run record. Expected JSON in {str(path)!r}. "
                         f"Received: {type(exc).__name__}: {exc}") from exc
    return data if isinstance(data, dict) else {}
