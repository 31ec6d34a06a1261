"""Run directories: written beside their target as ``.<name>.partial``, renamed into place.

The target is never half-written. A crashed run leaves its partial directory
(with the training backup); the same call resumes from it.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
from pathlib import Path

from kerakit.declaration.model import Model

__all__ = ["default_run_dir", "partial_dir", "prepare_partial", "replace"]


def default_run_dir(name: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{name}-{stamp}"


def partial_dir(target: Path) -> Path:
    """Where a run for ``target`` is written until it is complete."""
    return target.parent / f".{target.name}.partial"


def prepare_partial(partial: Path, decl: Model) -> None:
    """Reuse a crashed run's partial directory for the same declaration, else start clean."""
    marker = partial / "declaration.json"
    if partial.exists():
        same = marker.exists() and json.loads(marker.read_text()) == decl.to_dict()
        if not same:
            shutil.rmtree(partial)
    partial.mkdir(parents=True, exist_ok=True)
    marker.write_text(decl.to_json())


def replace(partial: Path, target: Path) -> None:
    """Move the finished run into place; an existing run is swapped out, then removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    partial.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
