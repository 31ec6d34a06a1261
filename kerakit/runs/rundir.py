"""Run directories: written beside their target as ``.<name>.partial``, renamed into place.

The target is never half-written. A crashed run leaves its partial directory
(with the training backup); the same call resumes from it. Every partial
directory is marked as a run's (:mod:`kerakit.runs.marker`) before anything
else is written in it, and the marker lists the run's files when it is
renamed into place. Overwriting replaces only a marked run holding nothing
but what kerakit wrote: anything else at the target is refused, never deleted.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from kerakit.declaration.model import Model
from kerakit.fileops import exchange_or_move, remove_stale_temps
from kerakit.runs.marker import MARKER, check_replaceable, describe, read_marker, write_marker

__all__ = ["RUN_LAYOUT", "RunLayout", "check_target", "default_run_dir", "describe",
           "discard_partial", "partial_dir", "prepare_partial", "replace", "same_declaration"]


@dataclass(frozen=True)
class RunLayout:
    """The names of the files a run directory holds; every module asks :data:`RUN_LAYOUT`.

    A directory holding *all* of :attr:`finished` is a finished run, one that
    ``kerakit runs`` lists. Whether a directory may be *replaced* is not
    answered from these names, which anyone's folder may hold, but from the
    marker kerakit writes (:mod:`kerakit.runs.marker`).

    Example:
        >>> RUN_LAYOUT.declaration
        'declaration.json'
        >>> RUN_LAYOUT.finished
        ('metrics.json', 'manifest.json')
    """

    model: str = "model.keras"
    declaration: str = "declaration.json"  # written next after the marker
    history: str = "history.csv"
    metrics: str = "metrics.json"
    curves: str = "curves.png"
    manifest: str = "manifest.json"
    backup: str = "backup"  # in the partial directory while training; gone when it is done

    @property
    def files(self) -> tuple[str, ...]:
        """Every file a finished run directory holds."""
        return (self.model, self.declaration, self.history, self.metrics, self.curves,
                self.manifest)

    @property
    def known(self) -> tuple[str, ...]:
        """What a run directory may hold besides what its marker lists (the backup folder too)."""
        return (*self.files, self.backup)

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


def check_target(target: Path, overwrite: bool) -> None:
    """Refuse a target that is not a new path, an empty directory or a replaceable run.

    A directory is replaced only with ``overwrite``, only when it carries a
    run's marker, and only when it holds nothing but what kerakit wrote
    there; anything else (a file, a folder of other things) is refused
    whatever ``overwrite`` says, with a message saying what is there.

    Example:
        >>> check_target(Path("runs/new"), overwrite=False)

    Args:
        target: The output directory.
        overwrite: Whether an existing kerakit run may be replaced.

    Raises:
        FileExistsError: if ``target`` cannot be written.
    """
    check_replaceable(target, "run", overwrite, known=RUN_LAYOUT.known)


def prepare_partial(partial: Path, decl: Model) -> bool:
    """Reuse a crashed run's partial directory for the same declaration, else start clean.

    A new partial directory gets the run's marker first, then the declaration.
    A reused one is rid of the temporary files its killed process left.

    Example:
        >>> prepare_partial(Path(".run.partial"), decl)  # doctest: +SKIP
        False

    Returns:
        Whether a crashed run's partial directory is reused.

    Raises:
        FileExistsError: if ``partial`` holds something that is not a kerakit run.
    """
    declaration = partial / RUN_LAYOUT.declaration
    reused = False
    if partial.exists():
        if partial.is_dir():
            remove_stale_temps(partial)  # a kill inside the first marker write leaves one
        marker = read_marker(partial) if partial.is_dir() else None
        if not partial.is_dir() or (any(partial.iterdir()) and (marker or {}).get("kind")
                                    != "run"):
            raise FileExistsError(
                f"Invalid partial run directory {str(partial)!r}. Expected a crashed kerakit "
                f"run (marked by {MARKER}) or nothing. Received: {describe(partial)}. kerakit "
                "does not delete it; move it away."
            )
        reused = same_declaration(partial, decl)
        if not reused:
            shutil.rmtree(partial)
    if reused:
        remove_stale_temps(partial)
    else:
        partial.mkdir(parents=True, exist_ok=True)
        write_marker(partial, "run")
    declaration.write_text(decl.to_json())
    return reused


def discard_partial(partial: Path) -> bool:
    """Remove a partial directory that holds nothing yet but its marker and declaration.

    A run that fails before training wrote anything (a declaration that does
    not build, say) leaves nothing behind; one with a backup or other outputs
    keeps them, to resume.

    Example:
        >>> discard_partial(Path(".nothing.partial"))
        False

    Returns:
        Whether it was removed.
    """
    try:
        if read_marker(partial) is None or (
                {p.name for p in partial.iterdir()} - {MARKER, RUN_LAYOUT.declaration}):
            return False
        shutil.rmtree(partial)
    except OSError:  # never hide the failure that brought us here
        return False
    return True


def replace(partial: Path, target: Path) -> None:
    """Move the finished run into place, swapping out an existing run (checked before).

    The marker is written again first, listing the run's files.
    """
    write_marker(partial, "run", entries=[p.name for p in partial.iterdir()])
    target.parent.mkdir(parents=True, exist_ok=True)
    exchange_or_move(partial, target)


def same_declaration(partial: Path, decl: Model) -> bool:
    """Whether the crashed run in ``partial`` trained ``decl``: then the run resumes it.

    Example:
        >>> same_declaration(Path("nowhere"), Model(inputs=(4,), head="classifier"))
        False
    """
    try:
        return json.loads((partial / RUN_LAYOUT.declaration).read_text()) == decl.to_dict()
    except (OSError, ValueError):  # torn by a crash: start afresh
        return False
