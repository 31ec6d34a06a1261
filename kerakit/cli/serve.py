"""``kerakit serve``: exports over TF Serving's REST API, with a page to try them."""

from __future__ import annotations

import argparse

from kerakit.cli.arguments import POSITIVE, port_number, positive_seconds, wait_seconds
from kerakit.deploy.batching import DEFAULT_BATCH_TIMEOUT, DEFAULT_MAX_BATCH
from kerakit.errors import UsageError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve exports over TF Serving's REST API, with a page at /")
    p.add_argument("export_dir", nargs="?", help="an export, or a directory of versions (1/, 2/)")
    p.add_argument("--name", help="the model's name in URLs (default: the directory's name)")
    p.add_argument("--model", action="append", default=[], metavar="NAME=DIR",
                   help="serve another export under NAME (repeatable)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    p.add_argument("--port", type=port_number, default=8501,
                   help="port to bind, 0 for any free one (default: 8501)")
    p.add_argument("--max-body", type=POSITIVE, default=10 * 2**20, metavar="BYTES",
                   help="largest request body accepted (default: 10 MiB)")
    p.add_argument("--read-timeout", type=positive_seconds, default=30.0, metavar="SECONDS",
                   help="time a client has to send a whole request (default: 30)")
    p.add_argument("--workers", type=POSITIVE, default=1,
                   help="processes, each with its own copy of the models (default: 1)")
    p.add_argument("--max-batch", type=POSITIVE, default=DEFAULT_MAX_BATCH, metavar="ROWS",
                   help="rows in one model call at most, across concurrent requests batched "
                        f"together; 1 turns batching off (default: {DEFAULT_MAX_BATCH})")
    p.add_argument("--batch-timeout", type=wait_seconds, default=DEFAULT_BATCH_TIMEOUT,
                   metavar="SECONDS", help="how long a batch may wait for requests already on "
                   f"their way (default: {DEFAULT_BATCH_TIMEOUT})")
    p.set_defaults(handler=run_serve)


def model_sources(args: argparse.Namespace) -> dict[str, str]:
    """Model name to directory, from EXPORT_DIR/--name and every --model NAME=DIR."""
    from pathlib import Path

    sources: dict[str, str] = {}
    if args.export_dir:
        sources[args.name or Path(args.export_dir).resolve().name] = args.export_dir
    elif args.name:
        raise UsageError("Invalid value for `--name`. Expected it with EXPORT_DIR. Received: "
                         f"--name {args.name} without EXPORT_DIR")
    for item in args.model:
        name, sep, directory = item.partition("=")
        if not sep or not name or not directory:
            raise UsageError("Invalid value for `--model`. Expected NAME=DIR. Received: "
                             f"--model {item}")
        if name in sources:
            raise UsageError(f"Invalid value for `--model`. Expected each name once. Received: "
                             f"{name!r} twice")
        sources[name] = directory
    if not sources:
        raise UsageError("Nothing to serve. Expected EXPORT_DIR or --model NAME=DIR. "
                         "Received: neither")
    return sources


def run_serve(args: argparse.Namespace) -> int:
    from kerakit.deploy.serving import serve

    serve(model_sources(args), host=args.host, port=args.port, max_body=args.max_body,
          workers=args.workers, read_timeout=args.read_timeout, max_batch=args.max_batch,
          batch_timeout=args.batch_timeout)
    return 0
