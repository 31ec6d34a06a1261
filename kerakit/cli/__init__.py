"""The ``kerakit`` command line: one module per group of subcommands.

Only argparse is imported up front, so ``kerakit --help`` answers without
loading TensorFlow; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from kerakit._version import __version__
from kerakit.cli import catalog, deploy, runs, scaffold, serve, train, tune

COMMANDS = (train, tune, runs, deploy, serve, catalog, scaffold)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerakit",
        description="Pluggable Keras training: list components, train, tune and export.",
    )
    parser.add_argument("--version", action="version", version=f"kerakit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    from kerakit.errors import KerakitError

    try:
        return int(args.handler(args) or 0)
    except (KerakitError, ValueError, LookupError, FileExistsError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
