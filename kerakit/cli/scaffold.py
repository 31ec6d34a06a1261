"""``kerakit new-plugin``: scaffold a plugin package."""

from __future__ import annotations

import argparse


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("new-plugin", help="scaffold a plugin package that installs and passes "
                       "its tests as generated")
    p.add_argument("name", help="plugin name, a lowercase identifier, e.g. audio")
    p.add_argument("--out", default=".", help="parent directory (default: here)")
    p.add_argument("--kinds", default="blocks,losses",
                   help="comma-separated component kinds to give an example of")
    p.set_defaults(handler=run_new_plugin)


def run_new_plugin(args: argparse.Namespace) -> int:
    from kerakit.authoring.scaffold import new_plugin

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    target = new_plugin(args.name, args.out, kinds)
    print(f"created {target}")
    print(f"next: pip install -e '{target}[test]' && pytest {target}/tests")
    return 0
