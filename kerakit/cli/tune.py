"""``kerakit tune``: search a declaration's hyperparameters, here or across machines."""

from __future__ import annotations

import argparse

from kerakit.cli.arguments import NON_NEGATIVE, POSITIVE
from kerakit.cli.train import add_data_arguments


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tune",
        help="search hyperparameters with KerasTuner (default: the embedded default's space)",
        description="Tune a declaration's placeholders. With no recipe, tunes the embedded "
        "default's search space on digits. Running the same command again resumes.",
    )
    p.add_argument("recipe", nargs="?", help="path.py[:NAME] (default: the embedded default)")
    add_data_arguments(p)
    p.add_argument("--tuner", default="random",
                   choices=("random", "bayesian", "hyperband", "grid"))
    p.add_argument("--max-trials", type=POSITIVE, default=10,
                   help="trials (random, bayesian, grid; >= 1)")
    p.add_argument("--max-epochs", type=POSITIVE, default=20, help="cap on one trial's epochs "
                   "(>= 1, default 20)")
    p.add_argument("--objective", help="logged metric to optimise (default: val_accuracy for "
                   "classifiers, val_loss otherwise)")
    p.add_argument("--seed", type=NON_NEGATIVE, help="seed of the search and the models")
    p.add_argument("--out", help="tuning directory (default: tuning/<name>)")
    p.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming")
    p.add_argument("--retrain-best", action="store_true",
                   help="retrain the best declaration on train + validation; report test metrics")
    p.add_argument("--workers", type=POSITIVE,
                   help="run N (>= 1) worker processes and a chief on this machine")
    p.add_argument("--chief", action="store_true",
                   help="serve the oracle for workers on other machines (needs --oracle)")
    p.add_argument("--worker", action="store_true",
                   help="run trials for a chief elsewhere (needs --oracle)")
    p.add_argument("--oracle", metavar="HOST:PORT",
                   help="the chief's address (or set KERASTUNER_ORACLE_IP / _PORT)")
    p.add_argument("--allow-remote-oracle", action="store_true",
                   help="let --chief serve on a non-loopback address: its gRPC has no "
                   "authentication, so only on a private network")
    p.add_argument("--engine", default="keras_tuner",
                   help="tuner engine: keras_tuner (default) or a plugin's, such as optuna")
    p.add_argument("--storage", help="optuna: SQLAlchemy URL or journal:PATH (default: "
                   "sqlite:///<out>/optuna.db); every process given it joins the study")
    p.add_argument("--study", help="optuna: the study's name (default: the declaration's)")
    p.add_argument("--pruner", choices=("median", "hyperband", "none"),
                   help="optuna: stop unpromising trials from per-epoch reports "
                   "(default median)")
    p.add_argument("--track", action="append", default=[], metavar="NAME",
                   help="tell an experiment tracker about the run: mlflow, tensorboard, ... "
                   "(repeatable; KERAKIT_TRACK=a,b adds more)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON document")
    p.set_defaults(handler=run_tune)


def run_tune(args: argparse.Namespace) -> int:
    from kerakit.cli.output import print_json
    from kerakit.cli.train import declaration_and_data
    from kerakit.tuning.search import join_search, tune

    # with no recipe, a table or an image folder gets the default declaration's search space
    decl, data, _ = declaration_and_data(args)
    options = {"tuner": args.tuner, "objective": args.objective, "max_trials": args.max_trials,
               "max_epochs": args.max_epochs, "directory": args.out, "seed": args.seed}
    engine_options = {k: getattr(args, k) for k in ("storage", "study", "pruner")
                      if getattr(args, k) is not None}
    # With --json, main() sends whatever is printed here (progress) to stderr.
    if args.chief or args.worker:
        if args.engine != "keras_tuner" or engine_options:
            raise ValueError("Invalid arguments. Expected --chief / --worker with the "
                             "keras_tuner engine only; other engines scale out by running the "
                             f"same command again. Received: --engine {args.engine}")
        join_search(decl, data, role="chief" if args.chief else "worker",
                    oracle=args.oracle, allow_remote_oracle=args.allow_remote_oracle,
                    **options)
        return 0
    result = tune(decl, data, overwrite=args.overwrite, retrain_best=args.retrain_best,
                  workers=args.workers, engine=args.engine, track=args.track,
                  **engine_options, **options)
    document = {
        "directory": str(result.directory),
        "objective": result.objective,
        "best_score": result.best_score,
        "best_hyperparameters": result.best_hyperparameters,
        "trials": len(result.trials),
        "completed": sum(1 for t in result.trials if t["status"] == "COMPLETED"),
        "pruned": sum(1 for t in result.trials if t["status"] == "PRUNED"),
        "failed": sum(1 for t in result.trials if t["status"] not in ("COMPLETED", "PRUNED")),
    }
    if result.best_run is not None:
        document["best_run"] = {"dir": str(result.best_run.dir),
                                "test": result.best_run.metrics}
    if args.json:
        print_json(document)
        return 0
    print(f"\nbest {result.objective}: {result.best_score:.4f} "
          f"({document['completed']} completed, {document['pruned']} pruned, "
          f"{document['failed']} failed)")
    for name, value in result.best_hyperparameters.items():
        print(f"  {name} = {value}")
    print(f"outputs: {result.directory} (best_declaration.json, trials.csv, tuning.png)")
    if result.best_run is not None:
        print("retrained best:", result.best_run.summary().replace("\n", "\n  "))
    return 0
