"""``kerakit train``: train the embedded default or a recipe."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kerakit.cli.arguments import FOLDS, NON_NEGATIVE, POSITIVE


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a declaration (default: the embedded digits CNN)",
        description="Train a declaration and write a run directory. With no recipe, trains "
        "the embedded default: a small CNN on the digits dataset.",
    )
    p.add_argument("recipe", nargs="?",
                   help="path.py[:NAME] or declaration.json (default: the embedded default)")
    add_data_arguments(p)
    p.add_argument("--write-recipe", metavar="PATH",
                   help="write the declaration and its data to PATH (.py recipe or .json) "
                   "instead of training")
    p.add_argument("--epochs", type=POSITIVE, help="maximum epochs (>= 1)")
    p.add_argument("--batch-size", type=POSITIVE, help="batch size (>= 1)")
    p.add_argument("--seed", type=NON_NEGATIVE, help="random seed (>= 0)")
    p.add_argument("--cv", type=FOLDS, metavar="K",
                   help="cross-validate on K stratified folds of the training rows first, "
                   "then train on all of them for the folds' median best epoch count")
    add_fit_settings(p)
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


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """``--data``, ``--target`` and ``--image-size``, shared by ``train`` and ``tune``."""
    p.add_argument("--data", help="a registered dataset name, a .csv/.tsv/.parquet/.npz file or "
                   "a folder of images with one subfolder per class (default: the recipe's "
                   "`data`, or digits); with no recipe, a table or image folder gets a default "
                   "declaration")
    p.add_argument("--target", action="append", metavar="COL",
                   help="the target column of a table (repeat for several targets)")
    p.add_argument("--image-size", type=_image_size, metavar="HxW",
                   help="image size of the default image model (default: the most common size)")


def add_fit_settings(p: argparse.ArgumentParser) -> None:
    """``--class-weight`` and ``--no-keep-best``, shared by ``train`` and ``tune``."""
    p.add_argument("--class-weight", choices=("balanced",),
                   help="weigh each class inversely to its share of the training rows")
    p.add_argument("--no-keep-best", dest="keep_best", action="store_false", default=None,
                   help="end with the last epoch's weights, not the best validation epoch's")


def with_fit_settings(decl: Any, args: argparse.Namespace) -> Any:
    """The declaration with the fit settings the command line gives."""
    changes = {"class_weight": getattr(args, "class_weight", None),
               "keep_best": getattr(args, "keep_best", None),
               "precision": getattr(args, "precision", None)}
    changes = {k: v for k, v in changes.items() if v is not None}
    return decl.replace(**changes) if changes else decl


def declaration_and_data(args: argparse.Namespace) -> tuple[Any, Any, bool]:
    """The declaration and data the arguments name, and whether the declaration is a default
    chosen from the data (no recipe, a table or an image folder)."""
    from pathlib import Path

    from kerakit.declaration.defaults import DEFAULT_DATA, digits_cnn
    from kerakit.declaration.recipes import load_recipe
    from kerakit.sources.formats import is_table_path
    from kerakit.sources.source import with_target

    target = None if not args.target else args.target[0] if len(args.target) == 1 \
        else args.target
    if args.recipe:
        decl, data = load_recipe(args.recipe)
        data = args.data or data or DEFAULT_DATA
        if isinstance(data, dict) and "table" in data:
            return decl, {**data, "target": target or data.get("target")}, False
        return decl, with_target(data, target), False
    if args.data and (is_table_path(args.data) or Path(args.data).is_dir()):
        from kerakit.engine.nocode import default_for

        decl, data = default_for(args.data, target, image_size=args.image_size)
        return decl, data, True
    return digits_cnn(), with_target(args.data or DEFAULT_DATA, target), False


def _show_default(decl: Any, data: Any, stream: Any) -> None:
    """Print the chosen declaration, and how to get an editable copy (nothing is written)."""
    print(f"default declaration for {data}:\n{decl!r}", file=stream)
    print("to edit it, add --write-recipe recipe.py, then run `kerakit train recipe.py`",
          file=stream)


def _image_size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    try:
        size = tuple(int(p) for p in parts)
    except ValueError:
        size = ()
    if len(size) == 1:
        size = (size[0], size[0])
    if len(size) != 2 or min(size) < 1:
        raise argparse.ArgumentTypeError(
            f"Invalid value for `--image-size`. Expected HEIGHTxWIDTH or one size, e.g. 64x64 "
            f"or 64. Received: {text!r}")
    return size  # type: ignore[return-value]


def run_train(args: argparse.Namespace) -> int:
    import json

    from kerakit.cli.output import print_json
    from kerakit.runs.train import fit

    decl, data, chosen = declaration_and_data(args)
    if args.write_recipe:
        from kerakit.engine.nocode import write_declaration

        written = write_declaration(decl, data, args.write_recipe)
        print(f"wrote {written}: edit it, then run `kerakit train {written}`")
        return 0
    if chosen:
        _show_default(decl, data, sys.stderr if args.json else sys.stdout)
    decl = with_fit_settings(decl, args)
    # With --json, main() sends whatever is printed here (Keras' progress) to stderr.
    run = fit(decl, data, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
              out=args.out, overwrite=args.overwrite, distribute=args.distribute,
              track=args.track, cv=args.cv,
              verbose=1 if sys.stdout.isatty() and not args.json else 2)
    exported = None
    if args.export:
        from kerakit.deploy.exporting import export
        from kerakit.runs.tracking import log_export

        exported = export(run, args.export, force=args.overwrite)
        log_export(run, exported.path)
    if args.json:
        from kerakit.runs.rundir import RUN_LAYOUT

        metrics = json.loads((run.dir / RUN_LAYOUT.metrics).read_text())
        document = metrics | {"dir": str(run.dir)}
        if exported is not None:
            document["export"] = str(exported.path)
        print_json(document)
    else:
        print()
        print(run.summary())
        if exported is not None:
            print(f"export: {exported.path} (verified)")
    return 0
