"""Replacing a file or directory so that readers never see it half there."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
from pathlib import Path

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


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


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``path`` through a temporary file beside it, so it is never seen torn."""
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    commit_file(tmp, path)


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
    aside = target.parent / f".{target.name}.old"
    shutil.rmtree(aside, ignore_errors=True)
    os.replace(target, aside)
    os.replace(new, target)
    shutil.rmtree(aside, ignore_errors=True)
