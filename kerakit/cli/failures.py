"""Every expected failure of a command, as the one line the user reads.

Library code raises :class:`~kerakit.errors.KerakitError` with a full message
wherever it can. What still reaches the command line from the file system,
an archive or Pillow is worded here: the path involved, what was expected and
what was found. Anything else, a bare ``ValueError`` included, is a bug in
kerakit or a plugin: kerakit raises :class:`~kerakit.errors.UsageError` for a
bad argument, so a ``ValueError`` that is not one came from code that did not
expect it.
"""

from __future__ import annotations

import errno
import zipfile
from pathlib import Path

# Besides KerakitError, what a bad path or a damaged file raises from outside kerakit.
# ValueError, KeyError and IndexError are not among them: kerakit words a bad argument
# itself (UsageError), so one of those reaching the command line is a bug to report.
EXPECTED = (OSError, EOFError, zipfile.BadZipFile)


def describe(exc: BaseException) -> str | None:
    """The one-line message for an expected failure, or ``None`` for a bug.

    Example:
        >>> describe(IsADirectoryError(21, "Is a directory", "runs"))
        "Invalid path 'runs'. Expected a file. Received: a directory"
        >>> describe(KeyError("kind")) is None
        True
        >>> describe(ValueError("a plugin's own bug")) is None
        True
    """
    from kerakit.errors import KerakitError

    if isinstance(exc, KerakitError):
        return str(exc)
    if _is_decompression_bomb(exc):
        return f"Refused an image too large to decode safely: {exc}"
    if isinstance(exc, OSError) and exc.filename is not None:
        return _describe_os_error(exc)
    if isinstance(exc, EOFError):
        return f"A file ended early ({exc or 'no data'}). Expected a complete file. " \
               "Received: an empty or truncated one"
    if isinstance(exc, zipfile.BadZipFile):
        return f"Not a valid zip archive ({exc}). Expected a .keras file written by Keras."
    if isinstance(exc, EXPECTED):
        return str(exc) or type(exc).__name__
    return None


def _describe_os_error(exc: OSError) -> str:
    path = str(exc.filename)
    if isinstance(exc, PermissionError):
        return (f"Permission denied for {path!r}. Expected a path this user may read and "
                "write. Check the path (e.g. --out) and its directory's permissions.")
    if isinstance(exc, NotADirectoryError):
        blocker = _file_in_the_way(Path(path))
        found = f"{str(blocker)!r} is a file" if blocker else "a file where a directory should be"
        return f"Invalid path {path!r}. Expected directories above it. Received: {found}"
    if isinstance(exc, IsADirectoryError):
        return f"Invalid path {path!r}. Expected a file. Received: a directory"
    if isinstance(exc, FileExistsError) and Path(path).is_file():
        return f"Invalid path {path!r}. Expected a directory. Received: a file"
    if isinstance(exc, FileNotFoundError):
        return f"No such file or directory: {path!r}"
    if exc.errno == errno.EROFS:
        return f"Cannot write {path!r}: the file system is read-only."
    if exc.errno == errno.ENOSPC:
        return f"Cannot write {path!r}: no space left on the device."
    return f"{exc.strerror or exc}: {path!r}"


def _file_in_the_way(path: Path) -> Path | None:
    for parent in [path, *path.parents]:
        if parent.is_file():
            return parent
    return None


def _is_decompression_bomb(exc: BaseException) -> bool:
    return type(exc).__name__ == "DecompressionBombError" and \
        type(exc).__module__.startswith("PIL")
