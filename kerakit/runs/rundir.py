"""Run directories: written beside their target as ``.<name>.partial``, renamed into place.

The target is never half-written. A crashed run leaves its partial directory
(with the training backup); the same call resumes from it. Overwriting
replaces only what is recognisably a kerakit run: anything else at the
target is refused, never deleted.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kerakit.declaration.model import Model
from kerakit.fileops import exchange_or_move

__all__ = ["RUN_LAYOUT", "RunLayout", "check_target", "default_run_dir", "describe",
           "partial_dir", "prepare_partial", "replace"]


@dataclass(frozen=True)
class RunLayout:
    """The names of the files a run directory holds; every module asks :data:`RUN_LAYOUT`.

    Two questions are answered from these names. A directory holding *any* of
    :attr:`markers` is recognisably a kerakit run, perhaps an unfinished one,
    that overwriting may replace. A directory holding *all* of :attr:`finished`
    is a finished run, one that ``kerakit runs`` lists.

    Example:
        >>> RUN_LAYOUT.declaration
        'declaration.json'
        >>> RUN_LAYOUT.finished
        ('metrics.json', 'manifest.json')
    """

    model: str = "model.keras"
    declaration: str = "declaration.json"  # written first: a partial run holds it
    history: str = "history.csv"
    metrics: str = "metrics.json"
    curves: str = "curves.png"
    manifest: str = "manifest.json"

    @property
    def files(self) -> tuple[str, ...]:
        """Every file a finished run directory holds."""
        return (self.model, self.declaration, self.history, self.metrics, self.curves,
                self.manifest)

    @property
    def markers(self) -> tuple[str, ...]:
        """Any one of these makes a directory a kerakit run that may be replaced."""
        return (self.manifest, self.declaration)

    @property
    def finished(self) -> tuple[str, ...]:
        """All of these (the JSON records written last) make a run finished."""
        return (self.metrics, self.manifest)

    def is_finished(self, path: Path) -> bool:
        """Whether ``path`` is a directory holding a finished run."""
        return path.is_dir() and all((path / name).is_file() for name in self.finished)


RUN_LAYOUT = RunLayout()


def default_run_dir(name: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{name}-{stamp}"


def partial_dir(target: Path) -> Path:
    """Where a run for ``target`` is written until it is complete."""
    return target.parent / f".{target.name}.partial"


def check_target(target: Path, overwrite: bool, *, what: str = "run",
                 markers: Iterable[str] = RUN_LAYOUT.markers, flag: str = "overwrite=True "
                 "(--overwrite)") -> None:
    """Refuse a target that holds something other than a replaceable kerakit output.

    A missing path or an empty directory is always fine. A directory holding
    one of ``markers`` is replaced only with ``overwrite``. Anything else (a
    file, or a directory of other things) is refused whatever ``overwrite``
    says, with a message saying what is there.

    Args:
        target: The output directory.
        overwrite: Whether an existing kerakit output may be replaced.
        what: What the output is, for messages (``"run"``, ``"tuning directory"``).
        markers: Names (files or folders) whose presence makes a directory
            recognisably such an output.
        flag: How the user asks for overwriting, for messages.

    Raises:
        FileExistsError: if ``target`` cannot be written.
    """
    if not target.exists() and not target.is_symlink():
        return
    if target.is_symlink() or not target.is_dir():
        raise FileExistsError(
            f"Invalid output path {str(target)!r}. Expected a new or empty directory, or a "
            f"kerakit {what} to replace. Received: {describe(target)}. kerakit does not "
            "delete it; choose another path."
        )
    entries = sorted(target.iterdir())
    if not entries:
        return
    if any((target / m).exists() for m in markers):
        if not overwrite:
            raise FileExistsError(
                f"The output directory {str(target)!r} already holds a {what}. "
                f"Expected a new or empty directory. Use {flag} to replace it."
            )
        return
    raise FileExistsError(
        f"Invalid output path {str(target)!r}. Expected a new or empty directory, or a "
        f"kerakit {what} (with {' or '.join(markers)}) to replace. Received: {describe(target)}"
        ", which is not a kerakit output. kerakit does not delete it, even with overwriting; "
        "choose another path."
    )


def describe(path: Path, limit: int = 5) -> str:
    """What is at ``path``, in a few words: ``a directory holding thesis.txt, sub/``."""
    if path.is_symlink():
        return f"a symbolic link to {str(path.readlink())!r}"
    if not path.is_dir():
        return f"a file of {path.stat().st_size} bytes"
    entries = sorted(path.iterdir())
    names = [e.name + ("/" if e.is_dir() else "") for e in entries[:limit]]
    more = f" and {len(entries) - limit} more" if len(entries) > limit else ""
    return f"a directory holding {', '.join(names)}{more}"


def prepare_partial(partial: Path, decl: Model) -> bool:
    """Reuse a crashed run's partial directory for the same declaration, else start clean.

    Returns:
        Whether a crashed run's partial directory is reused.

    Raises:
        FileExistsError: if ``partial`` holds something that is not a kerakit run.
    """
    marker = partial / RUN_LAYOUT.declaration
    reused = False
    if partial.exists():
        if not partial.is_dir() or (any(partial.iterdir()) and not marker.is_file()):
            raise FileExistsError(
                f"Invalid partial run directory {str(partial)!r}. Expected a crashed kerakit "
                f"run (with {RUN_LAYOUT.declaration}) or nothing. Received: {describe(partial)}. "
                "kerakit does not delete it; move it away."
            )
        reused = _same_declaration(marker, decl)
        if not reused:
            shutil.rmtree(partial)
    partial.mkdir(parents=True, exist_ok=True)
    marker.write_text(decl.to_json())
    return reused


def replace(partial: Path, target: Path) -> None:
    """Move the finished run into place, swapping out an existing run (checked before)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    exchange_or_move(partial, target)


def _same_declaration(marker: Path, decl: Model) -> bool:
    try:
        return json.loads(marker.read_text()) == decl.to_dict()
    except (OSError, ValueError):  # torn by a crash: start afresh
        return False
