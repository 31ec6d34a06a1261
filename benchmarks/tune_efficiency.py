"""Tuning skill, not luck: cross-validated kerakit searches against a hand-written RandomSearch.

Two tasks, each searched by three sides with the same trial budget (N trials
of at most E epochs):

- ``digits``: the embedded default's space (kerakit/declaration/defaults.py);
- ``breast_cancer``: the no-code default's space for the breast_cancer table.

Sides:

- ``baseline``: KerasTuner's ``RandomSearch`` written by hand over the same
  space, each trial scored on one validation split, as users write it;
- ``random``: ``kk.tune(..., cv=3)``, kerakit's random search scored on three
  paired folds;
- ``optuna``: ``kk.tune(..., engine="optuna", tuner="bayesian", cv=3)``, TPE
  with median pruning between folds (the Wilcoxon pruner needs four folds
  before it can act; see docs/tuning.md).

For every seed, each side's best declaration is retrained on the training and
validation rows for its best epoch count and scored on the held-out test
split. Reported per task: each side's anytime curve (best-so-far score
against summed trial time, median over seeds, at ten points), and the
retrained test accuracy's median and interquartile range.

Targets, per task: (a) the ``optuna`` side reaches the ``random`` side's final
median CV score in at most 0.5x the ``random`` side's median time; (b) each CV
side's median retrained test accuracy is at least the baseline's, with an
interquartile range at most half the baseline's. A missed target is reported
as missed.

Usage: python benchmarks/tune_efficiency.py [--tasks digits breast_cancer]
       [--seeds 0 1 2 3 4] [--trials N] [--epochs E] [--quick] [--json]
       (the optuna side needs `pip install ./plugins/kerakit-optuna`)
"""

from __future__ import annotations

import argparse
import contextlib
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

FOLDS = 3
SIDES = {"random": {}, "optuna": {"engine": "optuna", "tuner": "bayesian", "pruner": "median"}}


# -- the hand-written baselines ------------------------------------------------------------


class DigitsByHand(kt.HyperModel):
    """The embedded default's search space, written with Keras and KerasTuner."""

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

    @staticmethod
    def as_declaration(values, decl):
        return decl.replace(
            blocks=[kk.use("conv_block", filters=values["filters0"], convs=2),
                    kk.use("conv_block", filters=values["filters1"], convs=2),
                    "global_avg_pool", kk.use("dropout", rate=values["dropout"])],
            optimizer=kk.use("adam", learning_rate=values["learning_rate"]),
            batch_size=values["batch_size"], callbacks=[])


class TableByHand(kt.HyperModel):
    """The compact no-code table network's space: standardised columns, one dense block."""

    def __init__(self, data, seed):
        super().__init__()
        self.data, self.seed = data, seed
        self.x = {k: np.asarray(getattr(data, f"x_{k}"), dtype="float32")
                  for k in ("train", "val")}

    def build(self, hp):
        keras.utils.set_random_seed(self.seed)
        l2 = keras.regularizers.L2(hp.Choice("l2", [0.001, 0.003, 0.01]))
        norm = keras.layers.Normalization()
        norm.adapt(self.x["train"])
        inputs = keras.Input((self.x["train"].shape[1],))
        x = keras.layers.Dense(hp.Choice("units", [16, 32, 64]), activation="relu",
                               kernel_regularizer=l2)(norm(inputs))
        outputs = keras.layers.Dense(2, activation="softmax",
                                     kernel_regularizer=keras.regularizers.L2(0.003))(x)
        model = keras.Model(inputs, outputs)
        model.compile(keras.optimizers.Adam(hp.Float("learning_rate", 1e-3, 1e-2,
                                                     sampling="log")),
                      "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def fit(self, hp, model, *args, **kwargs):
        stop = keras.callbacks.EarlyStopping(patience=20, restore_best_weights=True)
        return model.fit(self.x["train"], self.data.y_train,
                         validation_data=(self.x["val"], self.data.y_val),
                         batch_size=hp.Choice("batch_size", [16, 32, 64]),
                         **{**kwargs, "callbacks": [*kwargs.get("callbacks", []), stop]})

    @staticmethod
    def as_declaration(values, decl):
        return decl.replace(
            blocks=[kk.use("dense_block", units=values["units"], l2=values["l2"])],
            optimizer=kk.use("adam", learning_rate=values["learning_rate"]),
            batch_size=values["batch_size"])


class Timed(kt.RandomSearch):
    """RandomSearch that records each trial's time and score, in order."""

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._start = time.time()

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        self.times.append((time.time() - self._start, self.oracle.get_trial(trial.trial_id).score))


# -- the tasks ---------------------------------------------------------------------------


def load_task(name: str, work: Path):
    """The task's declaration (with its search space), its split data and its baseline."""
    if name == "digits":
        decl = digits_cnn()
        return decl, kk.load_data("digits", decl), DigitsByHand
    import pandas as pd
    from sklearn.datasets import load_breast_cancer

    loaded = load_breast_cancer(as_frame=True)
    frame = loaded.frame.rename(columns=lambda c: c.replace(" ", "_"))
    path = work / "breast_cancer.csv"
    pd.DataFrame(frame).to_csv(path, index=False)
    decl, source = kk.default_for(str(path), "target")
    return decl, kk.load_data(source, decl), TableByHand


# -- the sides -----------------------------------------------------------------------------


def curve(times_scores) -> list[tuple[float, float | None]]:
    """(summed seconds, best score so far) after each trial; None until a trial scores."""
    total, best, points = 0.0, None, []
    for seconds, score in times_scores:
        total += seconds or 0.0
        if score is not None and (best is None or score > best):
            best = score
        points.append((total, best))
    return points


def baseline_side(decl, data, hand, seed, trials, epochs, work) -> dict:
    tuner = Timed(hand(data, seed), objective="val_accuracy", max_trials=trials, seed=seed,
                  directory=str(work), project_name="baseline", overwrite=True)
    tuner.times = []
    tuner.search(epochs=epochs, verbose=0)
    best = tuner.oracle.get_best_trials(1)[0]
    best_decl = hand.as_declaration(best.hyperparameters.values, decl)
    run = retrain(best_decl, data, work / "baseline_best", (best.best_step or 0) + 1)
    return {"curve": curve(tuner.times), "test_accuracy": run.metrics["accuracy"]}


def kerakit_side(decl, data, seed, trials, epochs, work, **engine) -> dict:
    name = engine.get("engine", "random")
    if engine:
        engine["storage"] = f"sqlite:///{work / (name + '.db')}"
    result = kk.tune(decl, data, seed=seed, out=work / name, overwrite=True, cv=FOLDS,
                     max_trials=trials, max_epochs=epochs, verbose=0, **engine)
    # a pruned trial costs its time and gives no score
    times = [(r["seconds"], r["score"] if r["status"] == "COMPLETED" else None)
             for r in result.trials]
    run = retrain(result.best, data, work / f"{name}_best", result.best_epochs or epochs)
    return {"curve": curve(times), "test_accuracy": run.metrics["accuracy"],
            "pruned": sum(r["status"] == "PRUNED" for r in result.trials)}


# -- the summary ---------------------------------------------------------------------------


def median_curve(curves: list[list[tuple[float, float | None]]], points: int = 10) -> list:
    """The median over seeds of the best score reached by each of ``points`` times."""
    end = max(c[-1][0] for c in curves)
    out = []
    for t in np.linspace(end / points, end, points):
        reached = [max([s for when, s in c if when <= t and s is not None], default=None)
                   for c in curves]
        known = [r for r in reached if r is not None]
        out.append((round(float(t), 1), round(statistics.median(known), 4)
                    if len(known) * 2 > len(reached) else None))
    return out


def time_to_reach(curves, score: float) -> float | None:
    """The median over seeds of the summed seconds at which ``score`` was first reached."""
    firsts = [next((when for when, s in c if s is not None and s >= score), float("inf"))
              for c in curves]
    value = statistics.median(firsts)
    return None if value == float("inf") else round(value, 1)


def spread(values: list[float]) -> dict:
    q1, q3 = np.percentile(values, [25, 75])
    return {"median": round(statistics.median(values), 4), "iqr": round(float(q3 - q1), 4),
            "values": [round(v, 4) for v in values]}


def summarise(rows: list[dict]) -> dict:
    sides = ["baseline", *SIDES]
    out = {side: {"anytime": median_curve([r[side]["curve"] for r in rows]),
                  "test_accuracy": spread([r[side]["test_accuracy"] for r in rows])}
           for side in sides}
    random_final = statistics.median(r["random"]["curve"][-1][1] for r in rows)
    random_time = statistics.median(r["random"]["curve"][-1][0] for r in rows)
    optuna_time = time_to_reach([r["optuna"]["curve"] for r in rows], random_final)
    ratio = None if optuna_time is None else round(optuna_time / random_time, 3)
    base = out["baseline"]["test_accuracy"]
    out["targets"] = {
        "a_optuna_time_to_random_final": {"ratio": ratio, "target": 0.5,
                                          "met": ratio is not None and ratio <= 0.5},
        **{f"b_{side}_test_accuracy": {
            "median": out[side]["test_accuracy"]["median"],
            "iqr": out[side]["test_accuracy"]["iqr"], "baseline_median": base["median"],
            "baseline_iqr": base["iqr"],
            "met": out[side]["test_accuracy"]["median"] >= base["median"]
            and out[side]["test_accuracy"]["iqr"] <= base["iqr"] / 2} for side in SIDES},
    }
    return out


def measure(task: str, seeds, trials, epochs) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        decl, data, hand = load_task(task, work)
        rows = []
        for seed in seeds:
            row = {"seed": seed,
                   "baseline": baseline_side(decl, data, hand, seed, trials, epochs,
                                             work / f"b{seed}")}
            for side, engine in SIDES.items():
                row[side] = kerakit_side(decl, data, seed, trials, epochs, work / f"{side}{seed}",
                                         **dict(engine))
            print(json.dumps({"task": task, **row}), file=sys.stderr, flush=True)
            rows.append(row)
    return {"summary": summarise(rows), "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["digits", "breast_cancer"],
                        choices=["digits", "breast_cancer"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--quick", action="store_true", help="tiny budgets: checks it runs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.seeds, args.trials, args.epochs = ["breast_cancer"], [0], 2, 1
    # progress and anything a plugin prints go to stderr: stdout holds the report alone
    with contextlib.redirect_stdout(sys.stderr):
        results = {task: measure(task, args.seeds, args.trials, args.epochs)
                   for task in args.tasks}
    document = {"machine": f"{os.cpu_count()} cores, backend {keras.backend.backend()}",
                "trials": args.trials, "epochs": args.epochs, "folds": FOLDS,
                "seeds": args.seeds, "tasks": results}
    if args.json:
        print(json.dumps(document, indent=2, default=str))
        return 0
    for task, result in results.items():
        summary = summarise(result["rows"])
        print(f"== {task}")
        for side in ("baseline", *SIDES):
            acc = summary[side]["test_accuracy"]
            print(f"{side:9} test accuracy median {acc['median']:.4f} IQR {acc['iqr']:.4f}; "
                  f"anytime {summary[side]['anytime']}")
        for name, target in summary["targets"].items():
            print(f"{name}: {'met' if target['met'] else 'NOT met'} {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
