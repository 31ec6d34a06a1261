"""Shared output helpers: stdout kept for one document, JSON or an aligned table."""

from __future__ import annotations

import contextlib
import json
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
    parseable.

    Args:
        active: Reserve only when true (e.g. ``args.json``).
    """
    if not active:
        yield
        return
    _reserved.append(_reserved[-1] if _reserved else sys.stdout)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _reserved.pop()


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
