"""Replacing a file or directory so that readers never see it half there.

Every atomic write in kerakit goes through this module: write beside the
target under a temporary name, flush, then rename into place (one step on
POSIX file systems). A reader sees the old file or the new one, never a torn
one.

- :func:`write_atomic`: a whole file from text or bytes.
- :func:`atomic_path`: a temporary path for a writer that takes a path
  (``np.savez``, ``model.save_weights``, a plot), committed when it succeeds.
- :func:`exchange_or_move`: a finished file or directory put in place.
- :func:`temp_dir_beside`: a work directory on the target's file system.
- :func:`remove_stale_temps`: what those left behind when their process was killed.

Temporary names carry the writer's pid (``.tmp-<pid>-...`` for files,
``.<name>.tmp-<pid>-...`` for work directories), so a later writer can tell a
dead process's leftovers from a live one's work.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "commit_file", "exchange_or_move", "fsync_path", "is_temp_name",
           "pid_alive", "remove_stale_temps", "temp_dir_beside", "write_atomic"]

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
#: A temporary name of this module's: ``.tmp-<pid>-<id>-<name>``, ``.<name>.tmp-<pid>-<id>``
#: (and ``.<name>.tmp-<pid>``); the group is the writer's pid.
_TEMP_NAME = re.compile(r"^\.(?:.+\.)?tmp-(\d+)(?:-|$)")


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step with Linux renameat2(RENAME_EXCHANGE); False if unsupported."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return result == 0


def fsync_path(path: Path) -> None:
    """Flush a file's (or a directory's entries') data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_file(tmp: Path, path: Path) -> None:
    """Durably put the finished file ``tmp`` at ``path``: fsync, rename, fsync the folder.

    A crash at any moment leaves ``path`` either as it was or complete.
    """
    fsync_path(tmp)
    os.replace(tmp, path)
    fsync_path(path.parent)


def write_atomic(path: str | Path, data: str | bytes, *, durable: bool = True) -> None:
    """Write ``path`` through a temporary file beside it, so it is never seen torn.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "state.json"
        >>> write_atomic(target, '{"epoch": 3}')
        >>> target.read_text()
        '{"epoch": 3}'

    Args:
        path: The file to write.
        data: Its whole content; text is written as UTF-8.
        durable: Also flush the file and its folder to disk, so that a power
            cut keeps it. A cache may skip that.
    """
    with atomic_path(path, durable=durable) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)


@contextmanager
def atomic_path(path: str | Path, *, durable: bool = True) -> Iterator[Path]:
    """A temporary path beside ``path``, put at ``path`` when the block succeeds.

    The temporary name ends with ``path``'s own name, so writers that check a
    suffix (``.weights.h5``, ``.npz``, ``.png``) accept it. If the block raises,
    the temporary file is removed and ``path`` is left as it was.

    Example:
        >>> import tempfile
        >>> import numpy as np
        >>> target = Path(tempfile.mkdtemp()) / "data.npz"
        >>> with atomic_path(target) as tmp:
        ...     np.savez(tmp, x=np.zeros(2))
        >>> sorted(np.load(target).files)
        ['x']

    Args:
        path: The file to write.
        durable: Flush to disk before and after the rename (see :func:`write_atomic`).
    """
    path = Path(path)
    tmp = path.parent / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}-{path.name}"
    try:
        yield tmp
        if durable:
            commit_file(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def temp_dir_beside(target: Path) -> Path:
    """A fresh work directory beside ``target``: same file system, so renames are atomic.

    Its name carries this process's pid. Work directories of ``target`` whose
    process is gone (a killed export, say) are removed; a live one's never.

    Example:
        >>> import tempfile
        >>> work = temp_dir_beside(Path(tempfile.mkdtemp()) / "export")
        >>> work.name.startswith(".export.tmp-")
        True
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.tmp-"
    for stale in target.parent.glob(f"{prefix}*"):
        owner = stale.name[len(prefix):].split("-", 1)[0]
        if owner.isdigit() and not pid_alive(int(owner)):
            shutil.rmtree(stale, ignore_errors=True)
    work = target.parent / f"{prefix}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    return work


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is one of this module's temporary names (``.tmp-<pid>-...``).

    Example:
        >>> is_temp_name(".tmp-4242-0badc0de-state.json"), is_temp_name("state.json")
        (True, False)
    """
    return _TEMP_NAME.match(name) is not None


def remove_stale_temps(directory: Path) -> list[str]:
    """Remove the temporary files and folders in ``directory`` whose process is gone.

    A writer killed between writing its temporary file and renaming it leaves
    that file; one whose pid is still alive is at work and is left alone.

    Example:
        >>> remove_stale_temps(Path("nowhere"))
        []

    Args:
        directory: The folder to tidy (not its subfolders).

    Returns:
        The names removed.
    """
    removed = []
    for entry in sorted(directory.glob(".*tmp-*")) if directory.is_dir() else []:
        match = _TEMP_NAME.match(entry.name)
        if match is None or pid_alive(int(match.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry.name)
    return removed


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (owned by anyone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def exchange_or_move(new: Path, target: Path) -> None:
    """Put ``new`` at ``target``, replacing whatever is there in one step where possible.

    A file is replaced with ``os.replace``. An existing directory is swapped
    with ``renameat2(RENAME_EXCHANGE)`` where the system has it, so ``target``
    is at every moment either the old or the new one; elsewhere the old one is
    renamed aside first.
    """
    if not target.exists() or new.is_file():
        os.replace(new, target)
        return
    if _exchange(new, target):
        shutil.rmtree(new)  # now holds the old export
        return
    # a temporary name: if a crash strands it, remove_stale_temps knows it as one
    aside = target.parent / f".{target.name}.tmp-{os.getpid()}-old"
    shutil.rmtree(aside, ignore_errors=True)
    os.replace(target, aside)
    os.replace(new, target)
    shutil.rmtree(aside, ignore_errors=True)
