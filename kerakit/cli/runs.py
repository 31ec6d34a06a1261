"""``kerakit runs``: the run directories as a table, and two runs compared."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kerakit.errors import UsageError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "runs",
        help="list run directories, or compare two (`kerakit runs diff A B`)",
        description="List the run directories under DIR (default: runs/): name, when, data, "
        "test metrics, epochs, wall time and plugins used. `kerakit runs diff A B` shows "
        "how two runs' declarations differ and their metrics side by side.",
    )
    p.add_argument("args", nargs="*", metavar="DIR | diff A B",
                   help="the runs folder (default: runs/), or `diff` and two run directories")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=run_runs)


def run_runs(args: argparse.Namespace) -> int:
    from kerakit.cli.output import print_json, print_table
    from kerakit.runs.runlog import diff_runs, list_runs

    if args.args[:1] == ["diff"]:
        if len(args.args) != 3:
            raise UsageError("Invalid arguments. Expected `kerakit runs diff A B` with two run "
                             f"directories. Received: {' '.join(args.args)}")
        diff = diff_runs(args.args[1], args.args[2])
        if args.json:
            print_json(diff)
            return 0
        print(f"a: {diff['a']}\nb: {diff['b']}\n")
        rows = [[d["key"], _cell(d["a"]), _cell(d["b"])] for d in diff["declaration"]]
        print_table(rows or [["(same declaration)", "", ""]], ["declaration", "a", "b"])
        print()
        print_table([[m["metric"], _cell(m["a"]), _cell(m["b"])] for m in diff["metrics"]],
                    ["metric", "a", "b"])
        return 0
    if len(args.args) > 1:
        raise UsageError("Invalid arguments. Expected at most one runs folder, or `diff A B`. "
                         f"Received: {' '.join(args.args)}")
    runs = list_runs(args.args[0] if args.args else "runs")
    for row in runs:
        if "error" in row:
            print(f"warning: {row['error']}", file=sys.stderr)
    if args.json:
        print_json(runs)
        return 0
    if not runs:
        print(f"no finished runs under {args.args[0] if args.args else 'runs'}/")
        return 0
    print_table([[r["name"], (r["when"] or "")[:19].replace("T", " "), r["data"],
                  "(unreadable)" if "error" in r else
                  " ".join(f"{k}={_cell(v)}" for k, v in r["test"].items()), r["epochs"],
                  _seconds(r["seconds"]), ", ".join(r["plugins"])] for r in runs],
                ["name", "when", "data", "test", "epochs", "time", "plugins"])
    return 0


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _seconds(value: Any) -> str:
    return "" if value is None else f"{float(value):.1f}s"
