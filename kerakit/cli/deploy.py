"""``kerakit export`` and ``kerakit predict``."""

from __future__ import annotations

import argparse
import sys

from kerakit.deploy.export_job import QUANTIZATIONS
from kerakit.errors import UsageError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a run or .keras file for serving (verified)")
    p.add_argument("source", help="run directory or model.keras")
    p.add_argument("--out", required=True, help="target directory (a .keras file for keras)")
    p.add_argument("--format", default="saved_model",
                   choices=("saved_model", "keras", "onnx", "litert"))
    p.add_argument("--quantize", default="none", choices=QUANTIZATIONS,
                   help="LiteRT: post-training quantization (int8 calibrates on the run's data)")
    p.add_argument("--int8-io", action="store_true",
                   help="LiteRT int8: integer inputs and outputs too")
    p.add_argument("--data", help="the run's data, when it has moved: held-out rows and "
                                  "calibration (default: the data the run recorded)")
    p.add_argument("--target", action="append",
                   help="with --data: the target column of a table (repeatable)")
    p.add_argument("--force", action="store_true", help="replace an existing target atomically")
    p.add_argument("--version", type=int, metavar="N",
                   help="write TF Serving's versioned layout: the SavedModel goes in OUT/N/")
    p.add_argument("--json", action="store_true", help="print the export manifest as JSON")
    p.set_defaults(handler=run_export)

    p = sub.add_parser("predict", help="predict with an export (SavedModel, ONNX or LiteRT)")
    p.add_argument("export_dir", help="an export written by `kerakit export`, or its model file")
    p.add_argument("input", help=".npy, .npz, .csv or an image file; for a table export also "
                                 ".tsv, .parquet, or a folder or glob of table files")
    p.add_argument("--out", help="write here (.csv or .json) instead of stdout; .parquet, a "
                                 "Parquet, folder or glob input, or one over 100 MB streams "
                                 "it in chunks, resumably")
    p.add_argument("--json", action="store_true", help="JSON instead of CSV")
    p.add_argument("--id", metavar="COL", help="streamed: copy this input column first in "
                                               "each prediction (default: a `row` number)")
    p.add_argument("--chunk-rows", type=int, metavar="N",
                   help="streamed: rows per chunk and per resumable part")
    p.add_argument("--restart", action="store_true",
                   help="streamed: discard OUT.partial/ left by another command, start over")
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
    data = None
    if args.data is not None:
        from kerakit.sources.source import with_target

        data = with_target(args.data, args.target)
    result = export(args.source, out, format=args.format, force=args.force,
                    quantize=args.quantize, int8_io=args.int8_io, data=data)
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
    from kerakit.deploy.batch_predict import predict_stream, stream_reason
    from kerakit.deploy.predict import format_predictions, predict_file

    if stream_reason(args.export_dir, args.input, args.out, id_column=args.id,
                     chunk_rows=args.chunk_rows, restart=args.restart, as_json=args.json):
        predict_stream(args.export_dir, args.input, args.out, id_column=args.id,
                       chunk_rows=args.chunk_rows, restart=args.restart)
        return 0
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
