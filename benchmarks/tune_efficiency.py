"""Tuning efficiency: kerakit's default search against a hand-written KerasTuner RandomSearch.

Both search the embedded default's space on `digits` (see kerakit/declaration/defaults.py).
The baseline is written by hand with KerasTuner: RandomSearch, N trials of E
epochs each. kerakit runs `kerakit.tune` with its default tuner and settings.
Reported, per seed and as the median over seeds:

- the baseline's wall time and best validation accuracy;
- seconds of search until each side first reaches 0.97 validation accuracy;
- seconds until kerakit matches the baseline's best, and the ratio to the
  baseline's wall time (target: <= 0.6);
- test accuracy of each side's best model, retrained on train + validation.

Times are summed trial times, measured the same way on both sides.

Usage: python benchmarks/tune_efficiency.py [--seeds 0 1 2] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
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


def kerakit_default(data, seed, workdir, quick):
    extra = {"max_epochs": 3, "max_trials": 2} if quick else {}
    start = time.time()
    result = kk.tune(digits_cnn(), data, seed=seed, directory=workdir / "kerakit",
                     overwrite=True, **extra)
    wall = time.time() - start
    times = [(r["seconds"] or 0.0, r["score"]) for r in result.trials]
    return {"wall_s": wall, "best_val_accuracy": result.best_score,
            "to_target_s": time_to(times, TARGET), "times": times, "trials": len(times),
            "test_accuracy": retrained_test_accuracy(result.best, data, result.best_epochs)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="tiny budgets: checks it runs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.trials, args.epochs = [0], 2, 2
    data = kk.get_component("datasets", "digits").create()
    rows = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            base = baseline(data, seed, args.trials, args.epochs, Path(tmp))
            ours = kerakit_default(data, seed, Path(tmp), args.quick)
        match = time_to(ours["times"], base["best_val_accuracy"])
        rows.append({
            "seed": seed,
            "baseline_wall_s": round(base["wall_s"], 1),
            "baseline_best_val_accuracy": round(base["best_val_accuracy"], 4),
            "baseline_to_0.97_s": base["to_target_s"] and round(base["to_target_s"], 1),
            "kerakit_to_0.97_s": ours["to_target_s"] and round(ours["to_target_s"], 1),
            "kerakit_to_match_baseline_s": match and round(match, 1),
            "kerakit_best_val_accuracy": round(ours["best_val_accuracy"], 4),
            "kerakit_wall_s": round(ours["wall_s"], 1),
            "ratio_match_to_baseline_wall": match and round(match / base["wall_s"], 3),
            "baseline_test_accuracy": round(base["test_accuracy"], 4),
            "kerakit_test_accuracy": round(ours["test_accuracy"], 4),
        })
    ratios = [r["ratio_match_to_baseline_wall"] for r in rows]
    summary = {
        "median_ratio": statistics.median(ratios) if all(r is not None for r in ratios) else None,
        "target_ratio": 0.6,
        "machine": f"{os.cpu_count()} cores, backend {keras.backend.backend()}",
        "rows": rows,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        keys = list(rows[0])
        print("  ".join(keys))
        for r in rows:
            print("  ".join(str(r[k]) for k in keys))
        print(f"median ratio (kerakit time to match / baseline wall): {summary['median_ratio']} "
              f"(target <= 0.6)")
    return 0


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    sys.exit(main())
