"""The ``kerakit`` command line: one module per group of subcommands.

Only argparse is imported up front, so ``kerakit --help`` answers without
loading TensorFlow; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from kerakit._version import __version__
from kerakit.cli import catalog, deploy, runs, scaffold, serve, train, tune
from kerakit.cli.failures import describe
from kerakit.cli.output import reserved_stdout

COMMANDS = (train, tune, runs, deploy, serve, catalog, scaffold)
DEBUG_HELP = "show the traceback of a failure (also: KERAKIT_DEBUG=1)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerakit",
        description="Pluggable Keras training: list components, train, tune and export.",
    )
    parser.add_argument("--version", action="version", version=f"kerakit {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.add_parsers(sub)
    for command in sub.choices.values():
        # Also accepted after the command; SUPPRESS keeps it from overriding the top level's.
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help=DEBUG_HELP)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Every expected failure (a :class:`~kerakit.errors.KerakitError` such as a
    bad argument, a missing or unreadable file, a refused model) prints one
    ``error:`` line on stderr and returns 1; anything else (a bare ``ValueError``
    from a plugin, say) is reported as a bug, pointing to ``--debug``.
    ``--debug`` or ``KERAKIT_DEBUG=1`` shows the traceback too. With ``--json``,
    stdout holds the JSON document alone.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    debug = args.debug or os.environ.get("KERAKIT_DEBUG", "") not in ("", "0")
    try:
        with reserved_stdout(getattr(args, "json", False)):
            return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        message = describe(exc)
        if debug:
            traceback.print_exc()
        if message is None:
            message = (f"unexpected {type(exc).__name__}: {exc}. This is a bug in kerakit or "
                       "a plugin" + ("." if debug else "; run again with --debug (or "
                                     "KERAKIT_DEBUG=1) for the traceback."))
        print(f"error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
