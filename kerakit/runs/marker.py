"""The marker kerakit writes in every directory it creates, and the one rule for replacing them.

Every run, tuning and export directory holds ``.kerakit.json``, a JSON object
written atomically when the directory is started (a run's partial directory,
a search's tuning directory, before any engine writes) and again, with the
names it then holds, when a run or an export is complete::

    {"kind": "run", "format": 1, "entries": ["curves.png", "declaration.json", ...]}

``kind`` is ``"run"``, ``"search"`` or ``"export"``; ``format`` is the
version of this layout; ``entries``, when present, lists the top-level names
kerakit put there. The marker is the only proof kerakit accepts that it wrote
a directory: generic names such as ``manifest.json``, ``declaration.json`` or
``search/`` prove nothing, since anyone's folder may hold them.

:func:`check_replaceable` is the rule every overwrite follows (``fit``,
``tune`` and ``export``): a missing path or an empty directory is fine; a
directory is replaced only with the flag, only when its marker has the right
kind, and only when every entry in it is one kerakit writes there.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kerakit.fileops import is_temp_name, write_atomic

__all__ = ["FORMAT", "KINDS", "MARKER", "check_replaceable", "describe", "read_marker",
           "unexpected_entries", "write_marker"]

#: The marker's file name, in every directory kerakit creates.
MARKER = ".kerakit.json"
#: The version of the layout the marker vouches for.
FORMAT = 1
#: marker kind -> what the directory is called in messages
KINDS = {"run": "run", "search": "tuning directory", "export": "export"}


def write_marker(directory: Path, kind: str, entries: Iterable[str] | None = None) -> None:
    """Write ``directory``'s marker atomically (the directory must exist).

    Example:
        >>> Path("run").mkdir()
        >>> write_marker(Path("run"), "run")
        >>> read_marker(Path("run"))
        {'kind': 'run', 'format': 1}

    Args:
        directory: The run, tuning or export directory.
        kind: ``"run"``, ``"search"`` or ``"export"``.
        entries: The top-level names kerakit wrote there, once it is complete.

    Raises:
        ValueError: for an unknown kind.
    """
    if kind not in KINDS:
        raise ValueError(f"Invalid marker kind. Expected one of: {', '.join(KINDS)}. "
                         f"Received: kind={kind!r}")
    record: dict[str, Any] = {"kind": kind, "format": FORMAT}
    if entries is not None:
        record["entries"] = sorted(set(entries) - {MARKER})
    write_atomic(directory / MARKER, json.dumps(record, indent=2) + "\n")


def read_marker(directory: Path) -> dict[str, Any] | None:
    """``directory``'s marker, or ``None`` when it has none (or an unreadable one).

    Example:
        >>> read_marker(Path("/nonexistent")) is None
        True

    Returns:
        The marker's object, with a known ``kind`` and an integer ``format``.
    """
    try:
        record = json.loads((directory / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not (isinstance(record, dict) and record.get("kind") in KINDS
            and isinstance(record.get("format"), int)):
        return None
    entries = record.get("entries")
    if not (isinstance(entries, list) and all(isinstance(e, str) for e in entries)):
        record.pop("entries", None)
    return record


def unexpected_entries(directory: Path, known: Iterable[str]) -> list[str]:
    """The top-level entries of ``directory`` that kerakit does not write there.

    The marker itself and kerakit's temporary files (``.tmp-<pid>-...``) are
    always known; so are the names the marker lists.

    Example:
        >>> unexpected_entries(Path("/nonexistent"), ["*.json"])
        []

    Args:
        directory: A marked directory.
        known: Names (``fnmatch`` patterns) kerakit writes in such a directory.

    Returns:
        The other entries' names, sorted; folders end with ``/``.
    """
    if not directory.is_dir():
        return []
    patterns = list(known)
    listed = {MARKER, *((read_marker(directory) or {}).get("entries") or [])}
    return [f"{entry.name}/" if entry.is_dir() and not entry.is_symlink() else entry.name
            for entry in sorted(directory.iterdir())
            if entry.name not in listed and not is_temp_name(entry.name)
            and not any(fnmatch.fnmatchcase(entry.name, p) for p in patterns)]


def check_replaceable(target: Path, kind: str, overwrite: bool, *, known: Iterable[str],
                      flag: str = "overwrite=True (--overwrite)") -> None:
    """Refuse a target that is not a kerakit output of ``kind`` that may be replaced.

    Example:
        >>> check_replaceable(Path("runs/new"), "run", overwrite=False, known=())

    Args:
        target: The output path.
        kind: The marker kind it must have (``"run"``, ``"search"``, ``"export"``).
        overwrite: Whether an existing output may be replaced.
        known: Names (``fnmatch`` patterns) kerakit writes in such a directory,
            besides those its marker lists.
        flag: How the user asks for replacing, for messages.

    Raises:
        FileExistsError: if ``target`` is a file or link, an unmarked or
            differently marked directory, an output while ``overwrite`` is
            false, or an output holding entries kerakit did not write; the
            message says what is there.
    """
    what = KINDS[kind]
    if not target.exists() and not target.is_symlink():
        return
    expected = (f"Invalid output path {str(target)!r}. Expected a new or empty directory, or "
                f"a kerakit {what} to replace (one holding the {MARKER} kerakit writes). ")
    if target.is_symlink() or not target.is_dir():
        raise FileExistsError(f"{expected}Received: {describe(target)}. kerakit does not "
                              "delete it; choose another path.")
    if not any(target.iterdir()):
        return
    marker = read_marker(target)
    if marker is None:
        raise FileExistsError(f"{expected}Received: {describe(target)}, which is not a "
                              f"kerakit output. kerakit does not delete it, even with {flag}; "
                              "choose another path.")
    if marker["kind"] != kind:
        raise FileExistsError(f"{expected}Received: {_a(KINDS[marker['kind']])} ({MARKER} says "
                              f"kind {marker['kind']!r}). kerakit does not delete it; choose "
                              "another path.")
    if not overwrite:
        raise FileExistsError(f"The output directory {str(target)!r} already holds {_a(what)}. "
                              f"Expected a new or empty directory. Use {flag} to replace it.")
    extra = unexpected_entries(target, known)
    if extra:
        raise FileExistsError(
            f"Invalid output path {str(target)!r}. Expected a kerakit {what} holding only what "
            f"kerakit wrote there, to replace. Received: {_a(what)} that also holds "
            f"{', '.join(extra)}, which kerakit did not write. kerakit does not delete them; "
            "move them out of the way, or choose another path."
        )


def describe(path: Path, limit: int = 5) -> str:
    """What is at ``path``, in a few words: ``a directory holding thesis.txt, sub/``.

    Example:
        >>> Path("notes").mkdir()
        >>> _ = (Path("notes") / "thesis.txt").write_text("three years")
        >>> describe(Path("notes")), describe(Path("notes/thesis.txt"))
        ('a directory holding thesis.txt', 'a file of 11 bytes')
    """
    if path.is_symlink():
        return f"a symbolic link to {str(path.readlink())!r}"
    if not path.is_dir():
        return f"a file of {path.stat().st_size} bytes"
    entries = sorted(path.iterdir())
    names = [e.name + ("/" if e.is_dir() else "") for e in entries[:limit]]
    more = f" and {len(entries) - limit} more" if len(entries) > limit else ""
    return f"a directory holding {', '.join(names)}{more}"


def _a(what: str) -> str:
    """``what`` with its indefinite article: ``a run``, ``an export``."""
    return f"{'an' if what[0] in 'aeiou' else 'a'} {what}"
