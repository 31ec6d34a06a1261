"""``kerakit plugins``, ``kerakit components`` and ``kerakit show``.

Listing and ``show`` are answered from the component index: they import no
plugin that was seen before. ``kerakit plugins --check`` imports every plugin now.
"""

from __future__ import annotations

import argparse
import difflib

from kerakit.cli.output import print_json, print_table


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plugins", help="list plugins with their status and component counts")
    p.add_argument("--check", action="store_true",
                   help="import every plugin now, not at first use; exit 1 if any failed")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=run_plugins)

    p = sub.add_parser("components", help="list registered components")
    p.add_argument("kind", nargs="?", help="only this kind, e.g. blocks")
    p.add_argument("pattern", nargs="?", help="fnmatch wildcard on the name, e.g. '*conv*'")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=run_components)

    p = sub.add_parser("show", help="show a component's parameters and docstring")
    p.add_argument("name", help="short or qualified name, e.g. conv_block or kerakit.adam")
    p.add_argument("--kind", help="the kind, when the name exists in several")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=run_show)


def run_plugins(args: argparse.Namespace) -> int:
    from kerakit.registry.discovery import import_all_plugins
    from kerakit.registry.lookup import list_plugins

    failed = import_all_plugins() if args.check else []
    status = 1 if failed else 0
    infos = list_plugins()
    if args.json:
        print_json([info.to_dict() for info in infos])
        return status
    rows = [
        (
            i.name,
            i.distribution or "",
            i.version or "",
            i.status,
            ", ".join(f"{k}={n}" for k, n in i.components.items()),
        )
        for i in infos
    ]
    print_table(rows, ("plugin", "distribution", "version", "status", "components"))
    for info in infos:
        if info.error:
            print(f"\n{info.name}: {info.status}: {info.error}")
    return status


def run_components(args: argparse.Namespace) -> int:
    from kerakit.registry.lookup import components

    found = components(args.kind, args.pattern)
    if args.json:
        print_json([c.to_dict() for c in found])
        return 0
    rows = [(c.qualified_name, c.name, c.kind, c.plugin, c.summary) for c in found]
    print_table(rows, ("name", "short name", "kind", "plugin", "summary"))
    return 0


def run_show(args: argparse.Namespace) -> int:
    from kerakit.errors import ComponentNotFoundError
    from kerakit.hookspecs import KINDS, singular
    from kerakit.registry.discovery import current_registry

    registry = current_registry()
    kinds = [args.kind] if args.kind else [k for k in KINDS if (k, args.name) in registry]
    if not kinds:
        names = sorted({n for c in registry.list() for n in (c.name, c.qualified_name)})
        close = difflib.get_close_matches(args.name, names, n=3)
        hint = f" Did you mean {' or '.join(f'`{n}`' for n in close)}?" if close else ""
        raise ComponentNotFoundError(
            f"Unknown component `{args.name}`.{hint} Run `kerakit components` to list them all."
        )
    shown = [registry.get(kind, args.name) for kind in kinds]
    if args.json:
        print_json([
            {**c.to_dict(), "parameters": [p.to_dict() for p in c.parameters],
             "distribution": c.distribution, "version": c.version,
             "doc": c.doc}
            for c in shown
        ])
        return 0
    for c in shown:
        print(f"{c.qualified_name}  ({singular(c.kind)}, from {c.distribution or c.plugin} "
              f"{c.version or ''})".rstrip())
        print(f"  {c.summary}\n\nParameters:")
        for p in c.parameters:
            default = "(required)" if p.required else f"= {p.default!r}"
            print(f"  {p.name} {default}")
        if not c.parameters:
            print("  (none)")
        print(f"\n{c.doc}\n")
    return 0
