"""Shared output helpers: stdout kept for one document, JSON or an aligned table."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

# The real stdout of each active reservation, innermost last.
_reserved: list[TextIO] = []


@contextlib.contextmanager
def reserved_stdout(active: bool = True) -> Iterator[None]:
    """Keep stdout for :func:`write_stdout` alone while the block runs.

    Anything else printed meanwhile (Keras progress, a plugin that prints on
    import) goes to stderr, so a ``--json`` document or a CSV on stdout stays
    parseable. Where stdout is a file descriptor, descriptor 1 itself points
    at stderr meanwhile, so a C extension or a subprocess writing there cannot
    corrupt the document either.

    Args:
        active: Reserve only when true (e.g. ``args.json``).
    """
    if not active:
        yield
        return
    with contextlib.ExitStack() as stack:
        _reserved.append(_reserved[-1] if _reserved else _hold_descriptor(stack))
        try:
            with contextlib.redirect_stdout(sys.stderr):
                yield
        finally:
            _reserved.pop()


def _hold_descriptor(stack: contextlib.ExitStack) -> TextIO:
    """The real stdout, with descriptor 1 sent to stderr until ``stack`` closes."""
    try:
        out_fd, err_fd = sys.stdout.fileno(), sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # a captured or replaced stream
        return sys.stdout
    sys.stdout.flush()
    saved = os.dup(out_fd)
    os.dup2(err_fd, out_fd)
    real = os.fdopen(saved, "w", encoding=sys.stdout.encoding or "utf-8", closefd=True)

    def restore() -> None:
        real.flush()
        sys.stdout.flush()
        os.dup2(saved, out_fd)
        real.close()

    stack.callback(restore)
    return real


def write_stdout(text: str) -> None:
    """Write ``text`` to the real stdout, reserved or not, ending it with a newline."""
    stream = _reserved[-1] if _reserved else sys.stdout
    stream.write(text if text.endswith("\n") else text + "\n")
    stream.flush()


def print_json(document: Any) -> None:
    """Write exactly one JSON document to stdout."""
    write_stdout(json.dumps(document, indent=2, default=str))


def print_table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    """Print rows as left-aligned columns under ``header``."""
    cells = [[str(c) for c in header]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
