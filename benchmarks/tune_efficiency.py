"""Tuning efficiency: kerakit's searches against a hand-written KerasTuner RandomSearch.

All sides search the embedded default's space on `digits` (see
kerakit/declaration/defaults.py) with the same budget: N trials of at most E
epochs. The baseline is written by hand with KerasTuner: RandomSearch. kerakit
runs `kerakit.tune` twice: its default (KerasTuner random search) and the Optuna
engine of plugins/kerakit-optuna with TPE and median pruning
(`engine="optuna", tuner="bayesian", pruner="median"`). Reported, per seed, as
the median and as the worst seed:

- the baseline's wall time and best validation accuracy;
- seconds of search until each side first reaches 0.97 validation accuracy;
- seconds until each kerakit side matches the baseline's best, and the ratio
  to the baseline's wall time (targets: kerakit random median <= 0.6; Optuna
  median <= 0.4 and worst seed <= 0.8; a side that never matches counts as
  infinity);
- test accuracy of each side's best model, retrained on train + validation.

Times are summed trial times (pruned trials included), measured the same way
on every side.

Usage: python benchmarks/tune_efficiency.py [--seeds 0 1 2 3 4] [--trials N] [--epochs E]
       [--quick] [--json]   (the Optuna side needs `pip install ./plugins/kerakit-optuna`)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import keras_tuner as kt
import numpy as np
from _reference import digits_cnn_by_hand

import kerakit as kk
from kerakit.declaration.defaults import digits_cnn
from kerakit.tuning.search import retrain

TARGET = 0.97


class Baseline(kt.HyperModel):
    """The embedded default's search space, written by hand."""

    def __init__(self, data, seed):
        super().__init__()
        self.data, self.seed = data, seed

    def build(self, hp):
        keras.utils.set_random_seed(self.seed)
        filters = (hp.Choice("filters0", [16, 32, 48]), hp.Choice("filters1", [32, 64, 96]))
        return digits_cnn_by_hand(
            self.data.x_train, filters, dropout=hp.Float("dropout", 0.0, 0.5, step=0.1),
            learning_rate=hp.Float("learning_rate", 3e-4, 3e-3, sampling="log"))

    def fit(self, hp, model, *args, **kwargs):
        return model.fit(self.data.x_train, self.data.y_train,
                         validation_data=(self.data.x_val, self.data.y_val),
                         batch_size=hp.Choice("batch_size", [32, 64]), **kwargs)


class Timed(kt.RandomSearch):
    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._start = time.time()

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        self.times.append((time.time() - self._start, self.oracle.get_trial(trial.trial_id).score))


def time_to(times_scores, target):
    total = 0.0
    for seconds, score in times_scores:
        total += seconds
        if score is not None and score >= target:
            return total
    return None


def retrained_test_accuracy(decl, data, epochs):
    run = retrain(decl, data, Path(tempfile.mkdtemp()) / "best", epochs)
    return run.metrics["accuracy"]


def baseline(data, seed, trials, epochs, workdir):
    tuner = Timed(Baseline(data, seed), objective="val_accuracy", max_trials=trials, seed=seed,
                  directory=str(workdir), project_name="baseline", overwrite=True)
    tuner.times = []
    start = time.time()
    tuner.search(epochs=epochs, verbose=0)
    wall = time.time() - start
    best_trial = tuner.oracle.get_best_trials(1)[0]
    best_hp = best_trial.hyperparameters.values
    best_decl = digits_cnn().replace(
        blocks=[kk.use("conv_block", filters=best_hp["filters0"], convs=2),
                kk.use("conv_block", filters=best_hp["filters1"], convs=2), "global_avg_pool",
                kk.use("dropout", rate=best_hp["dropout"])],
        optimizer=kk.use("adam", learning_rate=best_hp["learning_rate"]),
        batch_size=best_hp["batch_size"], callbacks=[])
    return {"wall_s": wall, "best_val_accuracy": max(s for _, s in tuner.times if s is not None),
            "to_target_s": time_to(tuner.times, TARGET), "times": tuner.times,
            "test_accuracy": retrained_test_accuracy(best_decl, data, best_trial.best_step + 1)}


def kerakit_side(data, seed, workdir, trials, epochs, **engine):
    name = engine.get("engine", "kerakit")
    if engine:
        engine["storage"] = f"sqlite:///{workdir / (name + '.db')}"
    start = time.time()
    result = kk.tune(digits_cnn(), data, seed=seed, directory=workdir / name,
                     overwrite=True, max_trials=trials, max_epochs=epochs, **engine)
    wall = time.time() - start
    # a pruned trial costs its time and yields no score to match
    times = [(r["seconds"] or 0.0, r["score"] if r["status"] == "COMPLETED" else None)
             for r in result.trials]
    return {"wall_s": wall, "best_val_accuracy": result.best_score,
            "to_target_s": time_to(times, TARGET), "times": times, "trials": len(times),
            "pruned": sum(1 for r in result.trials if r["status"] == "PRUNED"),
            "test_accuracy": retrained_test_accuracy(result.best, data, result.best_epochs)}


SIDES = {"kerakit": {}, "optuna": {"engine": "optuna", "tuner": "bayesian", "pruner": "median"}}
TARGETS = {"kerakit": {"median": 0.6}, "optuna": {"median": 0.4, "worst": 0.8}}


def measure_seed(data, seed: int, trials: int, epochs: int) -> dict:
    """One seed: the baseline and every kerakit side, on the same space and budget."""
    with tempfile.TemporaryDirectory() as tmp:
        base = baseline(data, seed, trials, epochs, Path(tmp))
        sides = {name: kerakit_side(data, seed, Path(tmp), trials, epochs, **dict(options))
                 for name, options in SIDES.items()}
    row = {"seed": seed, "baseline_wall_s": round(base["wall_s"], 1),
           "baseline_best_val_accuracy": round(base["best_val_accuracy"], 4),
           "baseline_to_0.97_s": base["to_target_s"] and round(base["to_target_s"], 1),
           "baseline_test_accuracy": round(base["test_accuracy"], 4)}
    for name, ours in sides.items():
        match = time_to(ours["times"], base["best_val_accuracy"])
        row.update({
            f"{name}_to_0.97_s": ours["to_target_s"] and round(ours["to_target_s"], 1),
            f"{name}_to_match_baseline_s": match and round(match, 1),
            f"{name}_best_val_accuracy": round(ours["best_val_accuracy"], 4),
            f"{name}_wall_s": round(ours["wall_s"], 1),
            f"{name}_pruned": ours["pruned"],
            f"{name}_ratio_match_to_baseline_wall": match and round(match / base["wall_s"], 3),
            f"{name}_test_accuracy": round(ours["test_accuracy"], 4),
        })
    print(json.dumps(row), file=sys.stderr, flush=True)  # a long run shows each seed
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="tiny budgets: checks it runs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.trials, args.epochs = [0], 1, 1
    # the searches' progress lines (and anything a plugin prints) go to stderr:
    # stdout holds the report alone, so that --json output parses
    with contextlib.redirect_stdout(sys.stderr):
        data = kk.get_component("datasets", "digits").create()
        rows = [measure_seed(data, seed, args.trials, args.epochs) for seed in args.seeds]
    summary = {"machine": f"{os.cpu_count()} cores, backend {keras.backend.backend()}",
               "trials": args.trials, "epochs": args.epochs, "seeds": args.seeds}
    for name in SIDES:
        # a side that never matched the baseline's best counts as infinitely slow
        ratios = [r[f"{name}_ratio_match_to_baseline_wall"] for r in rows]
        ratios = [math.inf if r is None else r for r in ratios]
        measured = {"median": statistics.median(ratios), "worst": max(ratios)}
        summary[name] = {
            # null: at least that many seeds never matched the baseline's best
            **{f"{k}_ratio": None if math.isinf(v) else v for k, v in measured.items()},
            "median_test_accuracy": statistics.median(r[f"{name}_test_accuracy"] for r in rows),
            "targets": TARGETS[name],
            "met": all(measured[k] <= v for k, v in TARGETS[name].items()),
        }
    summary["rows"] = rows
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        keys = list(rows[0])
        print("  ".join(keys))
        for r in rows:
            print("  ".join(str(r[k]) for k in keys))
        for name in SIDES:
            s = summary[name]
            print(f"{name}: median ratio {s['median_ratio']}, worst {s['worst_ratio']} "
                  f"(targets {s['targets']}: {'met' if s['met'] else 'NOT met'})")
    return 0


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    sys.exit(main())
