"""Quality rows for results to trust: cross-validation, class weights, a churn-like table.

Imported by ``benchmarks/quality.py`` (``--only`` takes their names). Each row
runs ``kerakit train`` in its own process, as a user would, and reads its
``--json`` document:

- ``cv breast_cancer.csv``: ``--cv 5`` on the bundled breast_cancer table; the
  folds' mean validation accuracy must reach 0.9736, the published 5-fold
  result of an AutoML tabular model on the same data.
- ``class weight 5% positives``: a generated table with 5% positives, trained
  without and with ``--class-weight balanced``; the weighted run must beat the
  unweighted default by at least 0.05 balanced accuracy on the same test split.
- ``no-code churn.csv``: a generated churn-like table (5,000 rows, twelve
  text categories, four numbers, about 25% churners); the no-code default
  must reach ``HistGradientBoostingClassifier``'s accuracy on the same split.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CV_TARGET = 0.9736
WEIGHT_GAIN = 0.05
CV_ROW, WEIGHT_ROW, CHURN_ROW = ("cv breast_cancer.csv", "class weight 5% positives",
                                 "no-code churn.csv")
ROWS = (CV_ROW, WEIGHT_ROW, CHURN_ROW)


def train(work: Path, data: Path, target: str, *extra: str, env: dict) -> dict:
    """``kerakit train --data DATA --target TARGET --json`` in its own process."""
    out = work / f"run_{data.stem}_{abs(hash(extra)) % 10_000}"
    command = [sys.executable, "-m", "kerakit", "train", "--data", str(data), "--target",
               target, "--out", str(out), "--overwrite", "--json", *extra]
    started = time.time()
    result = subprocess.run(command, cwd=work, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr[-2000:]}")
    document = json.loads(result.stdout)
    document["seconds"] = round(time.time() - started, 1)
    return document


def write_rare_csv(directory: Path, rows: int = 4000) -> Path:
    """Two classes at 95/5: four numbers and two text categories carry the signal."""
    import pandas as pd

    rng = np.random.default_rng(1)
    x = rng.normal(size=(rows, 4))
    channel = rng.choice(["web", "store", "phone"], rows)
    tier = rng.choice(["a", "b", "c", "d"], rows)
    score = (1.2 * x[:, 0] - 0.8 * x[:, 1] + 0.5 * x[:, 2] * x[:, 3]
             + np.select([channel == "phone", tier == "d"], [0.9, 0.7], 0.0)
             + rng.logistic(0, 0.7, rows))
    positive = score > np.quantile(score, 0.95)
    frame = pd.DataFrame({f"x{i}": x[:, i].round(3) for i in range(4)})
    frame["channel"], frame["tier"] = channel, tier
    frame["fraud"] = np.where(positive, "yes", "no")
    path = directory / "rare.csv"
    frame.to_csv(path, index=False)
    return path


def write_churn_csv(directory: Path, rows: int = 5000) -> Path:
    """Churn-like: twelve text categories of 2-8 values, four numbers, ~25% churners."""
    import pandas as pd

    rng = np.random.default_rng(2)
    frame = pd.DataFrame()
    effect = np.zeros(rows)
    for i in range(12):
        values = [f"v{j}" for j in range(2 + i % 7)]
        column = rng.choice(values, rows)
        weights = dict(zip(values, rng.normal(0, 0.5 if i < 8 else 0.1, len(values)),
                           strict=True))
        effect += np.vectorize(weights.get)(column)
        frame[f"cat_{i}"] = column
    tenure = rng.gamma(2.0, 15.0, rows)
    charges = rng.normal(70, 25, rows)
    calls = rng.poisson(1.5, rows)
    age = rng.integers(18, 80, rows)
    effect += -0.04 * tenure + 0.015 * charges + 0.35 * calls + 0.004 * (age - 50) ** 2 / 10
    frame["tenure"], frame["charges"] = tenure.round(1), charges.round(2)
    frame["calls"], frame["age"] = calls, age
    score = effect + rng.logistic(0, 0.8, rows)
    frame["churn"] = np.where(score > np.quantile(score, 0.75), "yes", "no")
    path = directory / "churn.csv"
    frame.to_csv(path, index=False)
    return path


def cv_row(work: Path, breast_cancer: Path, env: dict, quick: bool) -> dict:
    """``--cv 5`` on breast_cancer: the folds' mean validation accuracy against 0.9736."""
    extra = ("--cv", "2", "--epochs", "2") if quick else ("--cv", "5")
    got = train(work, breast_cancer, "target", *extra, env=env)
    cv = got["cv"]
    mean, std = cv["mean"]["val_accuracy"], cv["std"]["val_accuracy"]
    return {"name": CV_ROW, "kind": "cv", "task": "classification", "metric": "accuracy",
            "kerakit": round(mean, 4), "kerakit_std": round(std, 4),
            "folds": [round(f["val_accuracy"], 4) for f in cv["per_fold"]],
            "test_accuracy": round(got["test"]["accuracy"], 4),
            "baseline": "published 5-fold", "baseline_score": CV_TARGET,
            "ratio": round(mean / CV_TARGET, 4), "met": None if quick else mean >= CV_TARGET,
            "seconds": got["seconds"], "target": "cv"}


def weight_row(work: Path, env: dict, quick: bool) -> dict:
    """The rare-positive table without and with balanced class weights."""
    data = write_rare_csv(work, rows=600 if quick else 4000)
    epochs = ("--epochs", "2") if quick else ()
    plain = train(work, data, "fraud", *epochs, env=env)
    weighted = train(work, data, "fraud", "--class-weight", "balanced", *epochs, env=env)
    gain = weighted["balanced_accuracy"] - plain["balanced_accuracy"]
    return {"name": WEIGHT_ROW, "kind": "class weight", "task": "classification",
            "metric": "balanced accuracy", "kerakit": round(weighted["balanced_accuracy"], 4),
            "baseline": "unweighted default",
            "baseline_score": round(plain["balanced_accuracy"], 4),
            "minority_recall": {"unweighted": round(plain["recall"]["yes"], 4),
                                "balanced": round(weighted["recall"]["yes"], 4)},
            "ratio": round(weighted["balanced_accuracy"] / plain["balanced_accuracy"], 4),
            "gain": round(gain, 4), "met": None if quick else gain >= WEIGHT_GAIN,
            "seconds": round(plain["seconds"] + weighted["seconds"], 1), "target": "weight"}


def churn_row(work: Path, env: dict, quick: bool, baselines) -> dict:
    """The no-code default on the churn-like table against gradient boosting."""
    import kerakit as kk

    data = write_churn_csv(work, rows=800 if quick else 5000)
    got = train(work, data, "churn", *(("--epochs", "2") if quick else ()), env=env)
    decl, source = kk.default_for(str(data), "churn")
    split = kk.load_data(source, decl)
    scores = baselines(split)
    boosting = scores["HistGradientBoostingClassifier"]
    score = got["test"]["accuracy"]
    return {"name": CHURN_ROW, "kind": "no-code", "task": "classification",
            "metric": "accuracy", "kerakit": round(score, 4),
            "baseline": "HistGradientBoostingClassifier", "baseline_score": round(boosting, 4),
            "baselines": {k: round(v, 4) for k, v in scores.items()},
            "ratio": round(score / boosting, 4), "met": None if quick else score >= boosting,
            "seconds": got["seconds"], "target": "churn"}


def run_rows(only: list[str] | None, quick: bool, write_bundled_csv, env: dict,
             baselines) -> list[dict]:
    """Every row here that ``only`` selects (all without it), each printed as it ends."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in ROWS:
            if only and not any(o in name for o in only):
                continue
            print(f"running {name} ...", file=sys.stderr, flush=True)
            if name == CV_ROW:
                rows.append(cv_row(work, write_bundled_csv("breast_cancer", work), env, quick))
            elif name == WEIGHT_ROW:
                rows.append(weight_row(work, env, quick))
            else:
                rows.append(churn_row(work, env, quick, baselines))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows
