"""``kerakit tune``: search a declaration's hyperparameters, here or across machines.

Each tuner engine adds its own options (``TunerEngine.add_arguments``, as
pytest's ``pytest_addoption``): when help is asked for, every engine's, read
through the component index without importing Keras; otherwise only the
chosen engine's, whose parsed values reach it as engine options.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from kerakit.cli.arguments import FOLDS, NON_NEGATIVE, POSITIVE
from kerakit.cli.train import add_data_arguments, add_fit_settings
from kerakit.tuning.options import SearchOptions

DEFAULT_ENGINE = "keras_tuner"


class _TuneParser(argparse.ArgumentParser):
    """The ``tune`` parser: adds the engines' options the first time it parses."""

    engines_added = False

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None) -> Any:
        if not self.engines_added:
            self.engines_added = True
            _add_engine_options(self, list(args or []))
        return super().parse_known_args(args, namespace)


def _add_engine_options(parser: argparse.ArgumentParser, args: list[str]) -> None:
    from kerakit.tuning.engines import add_engine_arguments

    if "-h" in args or "--help" in args:
        added = add_engine_arguments(parser)
    else:
        peek = argparse.ArgumentParser(add_help=False)
        peek.add_argument("--engine", default=DEFAULT_ENGINE)
        chosen = peek.parse_known_args(args)[0].engine
        added = add_engine_arguments(parser, chosen)
    parser.set_defaults(engine_dests=[dest for dests in added.values() for dest in dests])


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``kerakit tune``."""
    defaults = SearchOptions()
    p = sub.add_parser(
        "tune",
        help="search hyperparameters with KerasTuner (default: the embedded default's space)",
        description="Tune a declaration's placeholders. With no recipe, tunes the embedded "
        "default's search space on digits. Running the same command again resumes.",
    )
    p.__class__ = _TuneParser
    p.add_argument("recipe", nargs="?", help="path.py[:NAME] (default: the embedded default)")
    add_data_arguments(p)
    p.add_argument("--engine", default=DEFAULT_ENGINE,
                   help="tuner engine: keras_tuner (default) or a plugin's, such as optuna")
    p.add_argument("--tuner", help="one of the engine's tuners (keras_tuner: random (default), "
                   "bayesian, hyperband, grid)")
    p.add_argument("--max-trials", type=POSITIVE, default=defaults.max_trials,
                   help=f"trials (random, bayesian, grid; >= 1, default {defaults.max_trials})")
    p.add_argument("--max-epochs", type=POSITIVE, default=defaults.max_epochs,
                   help=f"cap on one trial's epochs (>= 1, default {defaults.max_epochs})")
    p.add_argument("--objective", help="logged metric to optimise (default: val_accuracy for "
                   "classifiers, val_loss otherwise)")
    p.add_argument("--seed", type=NON_NEGATIVE, help="seed of the search and the models")
    p.add_argument("--cv", type=FOLDS, metavar="K",
                   help="score each trial by its mean validation objective over K stratified "
                   "folds of the training rows (the same folds for every trial); trials.csv "
                   "gets the per-fold scores and their std")
    p.add_argument("--time-budget", metavar="DURATION",
                   help="the search's total time, e.g. 90s, 20m, 1.5h (seconds without a unit): "
                   "no trial starts after it, a running one stops at its next epoch end; "
                   "a resumed search counts the time already spent")
    add_fit_settings(p)
    p.add_argument("--out", help="tuning directory (default: tuning/<name>)")
    p.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming")
    p.add_argument("--retrain-best", action="store_true",
                   help="retrain the best declaration on train + validation; report test metrics")
    p.add_argument("--workers", type=POSITIVE,
                   help="run N (>= 1) worker processes and a chief on this machine")
    p.add_argument("--chief", action="store_true",
                   help="keras_tuner: serve the oracle for workers on other machines "
                   "(needs --oracle)")
    p.add_argument("--worker", action="store_true",
                   help="keras_tuner: run trials for a chief elsewhere (needs --oracle)")
    p.add_argument("--oracle", metavar="HOST:PORT",
                   help="the chief's address (or set KERASTUNER_ORACLE_IP / _PORT)")
    p.add_argument("--allow-remote-oracle", action="store_true",
                   help="let --chief serve on a non-loopback address: its gRPC has no "
                   "authentication, so only on a private network")
    p.add_argument("--track", action="append", default=[], metavar="NAME",
                   help="tell an experiment tracker about the run: mlflow, tensorboard, ... "
                   "(repeatable; KERAKIT_TRACK=a,b adds more)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON document")
    p.set_defaults(handler=run_tune)


def run_tune(args: argparse.Namespace) -> int:
    """Run ``kerakit tune``; returns the exit status.

    Raises:
        UsageError: for ``--chief`` / ``--worker`` with another engine than keras_tuner.
    """
    from kerakit.cli.train import declaration_and_data, with_fit_settings
    from kerakit.errors import UsageError
    from kerakit.tuning.search import tune

    # with no recipe, a table or an image folder gets the default declaration's search space
    decl, data, _ = declaration_and_data(args)
    decl = with_fit_settings(decl, args)  # --class-weight, --no-keep-best
    options = {"tuner": args.tuner, "objective": args.objective, "max_trials": args.max_trials,
               "max_epochs": args.max_epochs, "out": args.out, "seed": args.seed,
               "cv": args.cv, "time_budget": args.time_budget}
    engine_options = {dest: getattr(args, dest) for dest in getattr(args, "engine_dests", ())
                      if getattr(args, dest, None) is not None}
    # With --json, main() sends whatever is printed here (progress) to stderr.
    if args.chief or args.worker:
        if args.engine != DEFAULT_ENGINE:
            raise UsageError("Invalid value for argument `--engine` with --chief / --worker. "
                             "Expected keras_tuner: other engines scale out by running the "
                             f"same command again. Received: --engine {args.engine}")
        from kerakit.tuning.join import join_search

        join_search(decl, data, role="chief" if args.chief else "worker", oracle=args.oracle,
                    allow_remote_oracle=args.allow_remote_oracle, **options)
        return 0
    result = tune(decl, data, overwrite=args.overwrite, retrain_best=args.retrain_best,
                  workers=args.workers, engine=args.engine, track=args.track,
                  **engine_options, **options)
    _report(result, args.json)
    return 0


def _report(result: Any, as_json: bool) -> None:
    from kerakit.cli.output import print_json

    document = {
        "directory": str(result.directory),
        "objective": result.objective,
        "best_score": result.best_score,
        "best_hyperparameters": result.best_hyperparameters,
        "trials": len(result.trials),
        "completed": sum(1 for t in result.trials if t["status"] == "COMPLETED"),
        "pruned": sum(1 for t in result.trials if t["status"] == "PRUNED"),
        "failed": sum(1 for t in result.trials
                      if t["status"] not in ("COMPLETED", "PRUNED", "STOPPED")),
    }
    stopped = sum(1 for t in result.trials if t["status"] == "STOPPED")
    if stopped:
        document["stopped"] = stopped  # by the time budget
    if "time_spent" in result.extra:
        document["time_spent"] = result.extra["time_spent"]
    if result.best_run is not None:
        document["best_run"] = {"dir": str(result.best_run.dir),
                                "test": result.best_run.metrics}
    if as_json:
        print_json(document)
        return
    stopped = f", {document['stopped']} stopped by the time budget" \
        if "stopped" in document else ""
    print(f"\nbest {result.objective}: {result.best_score:.4f} "
          f"({document['completed']} completed, {document['pruned']} pruned, "
          f"{document['failed']} failed{stopped})")
    for name, value in result.best_hyperparameters.items():
        print(f"  {name} = {value}")
    print(f"outputs: {result.directory} (best_declaration.json, trials.csv, tuning.png)")
    if result.best_run is not None:
        print("retrained best:", result.best_run.summary().replace("\n", "\n  "))
