"""``kerakit train``: train the embedded default or a recipe."""

from __future__ import annotations

import argparse
import contextlib
import sys


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a declaration (default: the embedded digits CNN)",
        description="Train a declaration and write a run directory. With no recipe, trains "
        "the embedded default: a small CNN on the digits dataset.",
    )
    p.add_argument("recipe", nargs="?",
                   help="path.py[:NAME] or declaration.json (default: the embedded default)")
    p.add_argument("--data", help="registered dataset name (default: the recipe's `data`, "
                   "or digits)")
    p.add_argument("--epochs", type=int, help="maximum epochs")
    p.add_argument("--batch-size", type=int, help="batch size")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--out", help="run directory (default: runs/<name>-<timestamp>)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run at --out")
    p.add_argument("--distribute", choices=("mirrored",),
                   help="train data-parallel over every local GPU (or logical CPU)")
    p.add_argument("--precision", choices=("float32", "mixed_float16", "mixed_bfloat16"),
                   help="dtype policy for the build (default: the declaration's)")
    p.add_argument("--export", metavar="DIR", help="export a verified SavedModel here after "
                   "training")
    p.add_argument("--track", action="append", default=[], metavar="NAME",
                   help="tell an experiment tracker about the run: mlflow, tensorboard, ... "
                   "(repeatable; KERAKIT_TRACK=a,b adds more)")
    p.add_argument("--json", action="store_true",
                   help="print the metrics JSON on stdout (progress goes to stderr)")
    p.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    import json

    from kerakit.declaration.defaults import DEFAULT_DATA, digits_cnn
    from kerakit.declaration.recipes import load_recipe
    from kerakit.engine.train import fit

    if args.recipe:
        decl, data = load_recipe(args.recipe)
    else:
        decl, data = digits_cnn(), DEFAULT_DATA
    data = args.data or data or DEFAULT_DATA
    if args.precision:
        decl = decl.replace(precision=args.precision)
    # --json keeps stdout for the one JSON document; Keras' progress goes to stderr.
    progress = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    with progress:
        run = fit(decl, data, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                  out=args.out, overwrite=args.overwrite, distribute=args.distribute,
                  track=args.track,
                  verbose=1 if sys.stdout.isatty() and not args.json else 2)
    exported = None
    if args.export:
        from kerakit.engine.exporting import export
        from kerakit.engine.tracking import log_export

        exported = export(run, args.export, force=args.overwrite)
        log_export(run, exported.path)
    if args.json:
        document = json.loads((run.dir / "metrics.json").read_text()) | {"dir": str(run.dir)}
        if exported is not None:
            document["export"] = str(exported.path)
        print(json.dumps(document, indent=2))
    else:
        print()
        print(run.summary())
        if exported is not None:
            print(f"export: {exported.path} (verified)")
    return 0
