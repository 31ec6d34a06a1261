"""One writer per run, tuning or export directory: an OS lock on a file beside the target.

The lock is ``fcntl.flock`` on ``.<name>.lock`` in the target's parent, held
for as long as the writer runs. The operating system releases it when the
process ends, however it ends (``kill -9`` included), so a crashed writer
never blocks the next one. The holder writes its pid into the file, so a
second writer's error can name it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from kerakit.errors import LockedError
from kerakit.fileops import pid_alive  # re-exported: the lock's holder is named by pid

__all__ = ["hold_lock", "lock_path", "pid_alive"]

_ATTEMPTS = 10


def lock_path(target: Path) -> Path:
    """The lock file of ``target``: ``.<name>.lock`` beside it."""
    return target.parent / f".{target.name}.lock"


@contextlib.contextmanager
def hold_lock(target: str | Path, what: str = "directory") -> Iterator[Path]:
    """Hold the writer's lock of ``target`` for the duration of the block.

    Example:
        >>> import tempfile
        >>> with hold_lock(Path(tempfile.mkdtemp()) / "run", "run directory"):
        ...     pass

    Args:
        target: The run, tuning or export path to be written.
        what: What ``target`` is, for the error message (``"run directory"``).

    Yields:
        The lock file's path.

    Raises:
        LockedError: if another process holds the lock; the message names its pid.
    """
    import fcntl

    target = Path(target)
    path = lock_path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(_ATTEMPTS):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise LockedError(
                f"Cannot write the {what} {str(target)!r}: another process is writing to it "
                f"(pid {holder if holder is not None else 'unknown'}). Expected no other writer "
                f"to the same {what}. Received: a lock held on {str(path)!r}. Wait for that "
                "process to finish, or choose another path."
            ) from None
        if _same_file(fd, path):
            break
        # the previous holder unlinked the file between our open and our lock: retry
        os.close(fd)
    else:  # pragma: no cover - needs a holder that releases ten times in a row
        raise LockedError(f"Cannot lock the {what} {str(target)!r}: {str(path)!r} keeps "
                          "changing under this process.")
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    try:
        yield path
    finally:
        # unlink before unlocking: a process that opened the old file retries on the new one
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)
