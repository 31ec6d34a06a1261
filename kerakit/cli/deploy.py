"""``kerakit export`` and ``kerakit predict``."""

from __future__ import annotations

import argparse
import sys

from kerakit.errors import UsageError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a run or .keras file for serving (verified)")
    p.add_argument("source", help="run directory or model.keras")
    p.add_argument("--out", required=True, help="target directory (or file for keras / onnx)")
    p.add_argument("--format", default="saved_model", choices=("saved_model", "keras", "onnx"))
    p.add_argument("--force", action="store_true", help="replace an existing target atomically")
    p.add_argument("--version", type=int, metavar="N",
                   help="write TF Serving's versioned layout: the SavedModel goes in OUT/N/")
    p.add_argument("--json", action="store_true", help="print the export manifest as JSON")
    p.set_defaults(handler=run_export)

    p = sub.add_parser("predict", help="predict with an exported SavedModel")
    p.add_argument("export_dir", help="a SavedModel written by `kerakit export`")
    p.add_argument("input", help=".npy, .npz, .csv or an image file")
    p.add_argument("--out", help="write here (.csv or .json) instead of stdout")
    p.add_argument("--json", action="store_true", help="JSON instead of CSV")
    p.set_defaults(handler=run_predict)


def run_export(args: argparse.Namespace) -> int:
    from kerakit.cli.output import print_json
    from kerakit.deploy.exporting import export

    out = args.out
    if args.version is not None:
        if args.version < 1 or args.format != "saved_model":
            raise UsageError("Invalid value for `--version`. Expected a positive integer with "
                             f"--format saved_model. Received: --version {args.version} with "
                             f"--format {args.format}")
        out = f"{args.out}/{args.version}"
    result = export(args.source, out, format=args.format, force=args.force)
    if args.json:
        print_json(result.manifest)
    else:
        check = "" if result.max_abs_diff is None else \
            f" (verified: max |reloaded - predict| = {result.max_abs_diff:.2g})"
        print(f"exported {result.format} to {result.path}{check}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kerakit.cli.output import reserved_stdout, write_stdout
    from kerakit.deploy.predict import format_predictions, predict_file

    # Predictions on stdout (CSV or JSON) must stay parseable whatever a plugin prints.
    with reserved_stdout(not args.out):
        result = predict_file(args.export_dir, args.input)
    fmt = "json" if args.json or (args.out or "").endswith(".json") else "csv"
    text = format_predictions(result, fmt)
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {len(result['outputs'])} predictions to {args.out}", file=sys.stderr)
    else:
        write_stdout(text)
    return 0
