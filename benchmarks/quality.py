"""Quality: kerakit's test metric beside scikit-learn baselines on the same split.

Runs, at full length, every example in ``examples/`` and the no-code defaults
(``kerakit train --data FILE --target COL`` with no recipe) on:

- the bundled datasets, written out as CSV files (iris, wine, breast_cancer,
  digits, diabetes);
- a CSV generated here, with text categories, an ID column and missing values;
- the digits written out as a folder of PNG files (``kerakit train --data DIR``).

Each row compares kerakit's test metric with the better of two baselines,
fitted on the training and validation rows of the same split and scored on
the same test rows: ``LogisticRegression`` and ``HistGradientBoostingClassifier``
for classification (accuracy, higher is better), ``RidgeCV`` and
``HistGradientBoostingRegressor`` for regression (RMSE, lower is better).
Tables are given to the baselines as kerakit reads them: numeric columns
mean-imputed and standardised, categorical ones one-hot with missing as a
category of its own.

Targets: the no-code table default within 1 point of accuracy of the better
baseline (classification) and within 10% of its RMSE (regression); the
image-folder default >= 0.985 accuracy on the digits PNGs. Examples are
reported against the same baselines without a target (``regression_mlp``
is expected to beat ``RidgeCV``).

Three rows from ``_trust_rows.py`` hold results to trust: ``--cv 5`` on
breast_cancer (mean fold accuracy >= 0.9736), ``--class-weight balanced`` on
5% positives (+0.05 balanced accuracy over the unweighted default) and the
no-code default on a churn-like table (>= ``HistGradientBoostingClassifier``).

One more row puts the scikit-learn estimator in scikit-learn's own loop:
``cross_val_score(kk.Classifier(), X, y, cv=5)`` on breast_cancer beside a
scaled ``LogisticRegression`` on the same folds (mean accuracy, no target).

``--quick`` trains one no-code table for 2 epochs and one small image folder
for 1 epoch, in this process: it proves the code runs, not that it learns.

Usage: python benchmarks/quality.py [--quick] [--json] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ("iris", "wine", "breast_cancer", "digits", "diabetes")
EXAMPLE_DATA = {"digits_cnn.py": "digits", "tune_digits.py": "digits", "use_plugins.py": "digits",
                "custom_component.py": "wine", "regression_mlp.py": "diabetes",
                "tabular_csv.py": "penguins.csv", "image_folder.py": "digits_png"}
IMAGE_TARGET = 0.985


# -- data the benchmark writes -------------------------------------------------------


def write_bundled_csv(name: str, directory: Path) -> Path:
    """A bundled dataset as a CSV: one column per feature, then ``target``."""
    import pandas as pd
    from sklearn import datasets

    loaded = getattr(datasets, f"load_{name}")()
    x = loaded.data.reshape(len(loaded.data), -1)
    names = [f"f{i}" for i in range(x.shape[1])] if name == "digits" else \
        [re.sub(r"\W+", "_", str(n)).strip("_") for n in loaded.feature_names]
    frame = pd.DataFrame(x, columns=names)
    if name == "digits":
        frame = frame.astype("int64")  # pixel counts 0..16, as a user's file would hold them
    frame["target"] = loaded.target
    path = directory / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path


def write_customers_csv(directory: Path, rows: int = 3000) -> Path:
    """Customers who churn or stay: numbers, text categories, an ID, 6% missing cells."""
    import pandas as pd

    rng = np.random.default_rng(0)
    plan = rng.choice(["basic", "standard", "premium"], rows, p=[0.5, 0.3, 0.2])
    region = rng.choice(["north", "south", "east", "west", "centre"], rows)
    tenure = rng.gamma(2.0, 12.0, rows)
    charges = np.select([plan == "basic", plan == "standard"], [30.0, 60.0], 95.0) + \
        rng.normal(0, 8, rows)
    calls = rng.poisson(2.0, rows)
    paperless = rng.choice([True, False], rows)
    score = (-0.06 * tenure + 0.03 * charges + 0.45 * calls + 0.6 * paperless
             + np.select([region == "south", region == "east"], [0.8, -0.5], 0.0)
             - 2.2 + rng.logistic(0, 0.6, rows))
    frame = pd.DataFrame({
        "customer_id": np.arange(100000, 100000 + rows), "plan": plan, "region": region,
        "tenure_months": tenure.round(1), "monthly_charges": charges.round(2),
        "support_calls": calls, "paperless": paperless,
        "churn": np.where(score > 0, "yes", "no"),
    })
    for column in ("plan", "region", "tenure_months", "monthly_charges"):
        frame.loc[rng.random(rows) < 0.06, column] = None
    path = directory / "customers.csv"
    frame.to_csv(path, index=False)
    return path


def write_digit_pngs(directory: Path, limit: int | None = None) -> Path:
    """The digits as greyscale 8x8 PNGs, one folder per class."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    root = directory / "digits_png"
    pairs = zip(digits.images[:limit], digits.target[:limit], strict=True)
    for i, (image, label) in enumerate(pairs):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        pixels = np.clip(image * 16, 0, 255).astype("uint8")
        Image.fromarray(pixels, "L").save(root / str(label) / f"{i}.png")
    return root


# -- baselines -----------------------------------------------------------------------------


def baselines(data) -> dict[str, float]:
    """The scikit-learn baselines' test metric on a kerakit Dataset's own split."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_fit, x_test = _features(data)
    y_fit = np.concatenate([np.asarray(data.y_train), np.asarray(data.y_val)])
    y_test = np.asarray(data.y_test)
    if data.task == "classification":
        models = {"LogisticRegression": make_pipeline(StandardScaler(),
                                                      LogisticRegression(max_iter=5000)),
                  "HistGradientBoostingClassifier": HistGradientBoostingClassifier(
                      random_state=0)}
        return {name: float((m.fit(x_fit, y_fit.ravel()).predict(x_test) == y_test.ravel())
                            .mean()) for name, m in models.items()}
    models = {"RidgeCV": make_pipeline(StandardScaler(), RidgeCV(np.logspace(-3, 3, 13))),
              "HistGradientBoostingRegressor": HistGradientBoostingRegressor(random_state=0)}
    scores = {}
    for name, model in models.items():
        predicted = np.column_stack([model.fit(x_fit, y_fit[:, k]).predict(x_test)
                                     for k in range(y_fit.reshape(len(y_fit), -1).shape[1])])
        scores[name] = float(np.sqrt(((predicted - y_test.reshape(predicted.shape)) ** 2)
                                     .mean()))
    return scores


def _features(data) -> tuple[np.ndarray, np.ndarray]:
    from kerakit.data import is_table

    if not is_table(data.x_train):
        flat = [np.asarray(x).reshape(len(x), -1) for x in (data.x_train, data.x_val,
                                                            data.x_test)]
        return np.concatenate(flat[:2]), flat[2]
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    kinds = {c: k for c, k in (data.columns or {}).items() if c in data.x_train.columns}
    numeric = [c for c, k in kinds.items() if k == "numeric"]
    categorical = [c for c, k in kinds.items() if k == "categorical"]
    encode = ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
        ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
         categorical),
    ])
    fit_rows = pd.concat([data.x_train, data.x_val], ignore_index=True)
    as_text = {c: str for c in categorical}
    return (encode.fit_transform(fit_rows.astype(as_text)),
            encode.transform(data.x_test.astype(as_text)))


# -- kerakit runs ----------------------------------------------------------------------------


def run_no_code(data: Path, target: str | None, work: Path, epochs: int | None) -> dict:
    """``kerakit train --data ... [--target ...] --json`` in its own process."""
    out = work / f"run_{data.stem}"
    command = [sys.executable, "-m", "kerakit", "train", "--data", str(data), "--out", str(out),
               "--overwrite", "--json"]
    command += ["--target", target] if target else []
    command += ["--epochs", str(epochs)] if epochs else []
    started = time.time()
    result = subprocess.run(command, cwd=work, capture_output=True, text=True, env=_env())
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr[-2000:]}")
    document = json.loads(result.stdout[result.stdout.index("{"):])
    return {"metrics": document["test"], "seconds": round(time.time() - started, 1),
            "epochs_run": document.get("epochs_run")}


def run_no_code_here(data: Path, target: str | None, work: Path) -> dict:
    """``--quick``: the same default, trained in this process for one or two epochs."""
    import kerakit as kk

    started = time.time()
    decl, source = kk.default_for(str(data), target)
    run = kk.fit(decl, source, epochs=2 if target else 1, out=work / f"quick_{data.stem}",
                 overwrite=True, verbose=0)
    return {"metrics": run.metrics, "seconds": round(time.time() - started, 1)}


def run_example(script: Path, work: Path, quick: bool, site: Path | None) -> dict:
    """An example at full length; its last ``test:`` line, parsed."""
    started = time.time()
    result = subprocess.run([sys.executable, str(script), *(["--quick"] if quick else [])],
                            cwd=work, capture_output=True, text=True, env=_env(site))
    if result.returncode != 0:
        raise RuntimeError(f"{script.name} failed: {result.stderr[-2000:]}")
    line = [x for x in result.stdout.splitlines() if x.startswith("test:")][-1]
    metrics = {k: float(v) for k, v in re.findall(r"(\w+)=([-\d.eE+]+)", line)}
    return {"metrics": metrics, "seconds": round(time.time() - started, 1)}


def _env(site: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERAKIT_")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if site is not None:
        env["PYTHONPATH"] = str(site)
    return env


def vision_site(work: Path) -> Path | None:
    """kerakit-vision installed into a folder of its own, for use_plugins.py."""
    site = work / "site"
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                             "--target", str(site), str(ROOT / "plugins" / "kerakit-vision")],
                            capture_output=True, text=True)
    return site if result.returncode == 0 else None


# -- the table -------------------------------------------------------------------------------


def kerakit_score(metrics: dict, task: str) -> float:
    if task == "classification":
        return float(metrics["accuracy"])
    if "root_mean_squared_error" in metrics:
        return float(metrics["root_mean_squared_error"])
    return float(np.sqrt(metrics["loss"]))  # MSE, the default loss, without regularisers


def row(name: str, kind: str, data, got: dict, target: str | None) -> dict:
    scores = baselines(data)
    task = data.task
    better = max(scores, key=scores.get) if task == "classification" else \
        min(scores, key=scores.get)
    score = kerakit_score(got["metrics"], task)
    entry = {"name": name, "kind": kind, "task": task,
             "metric": "accuracy" if task == "classification" else "rmse",
             "kerakit": round(score, 4), "baseline": better,
             "baseline_score": round(scores[better], 4),
             "baselines": {k: round(v, 4) for k, v in scores.items()},
             "seconds": got["seconds"], "target": target}
    if task == "classification":
        entry["ratio"] = round(score / scores[better], 4)
        entry["met"] = {"table": score >= scores[better] - 0.01,
                        "image": score >= IMAGE_TARGET}.get(target)
    else:
        entry["ratio"] = round(score / scores[better], 4)
        entry["met"] = {"table": score <= 1.10 * scores[better]}.get(target)
    return entry


ESTIMATOR_ROW = "estimator breast_cancer cv=5"


def estimator_cv_row(quick: bool) -> dict:
    """``cross_val_score(kk.Classifier(), X, y, cv=5)`` beside a scaled LogisticRegression.

    The scikit-learn side of kerakit: the estimator's default (the compact
    table network) on the same five stratified folds as the baseline; the
    score is the mean fold accuracy, with its spread.
    """
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import kerakit as kk

    X, y = load_breast_cancer(return_X_y=True)
    # --quick: 2 folds of 1 epoch prove the loop runs
    folds = StratifiedKFold(2 if quick else 5, shuffle=True, random_state=0)
    started = time.time()
    ours = cross_val_score(kk.Classifier(epochs=1 if quick else None, random_state=0), X, y,
                           cv=folds)
    seconds = round(time.time() - started, 1)
    theirs = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
                             X, y, cv=folds)
    return {"name": ESTIMATOR_ROW, "kind": "estimator", "task": "classification",
            "metric": "accuracy", "kerakit": round(float(ours.mean()), 4),
            "kerakit_std": round(float(ours.std()), 4), "folds": [round(float(v), 4) for v in ours],
            "baseline": "LogisticRegression", "baseline_score": round(float(theirs.mean()), 4),
            "baseline_std": round(float(theirs.std()), 4),
            "ratio": round(float(ours.mean() / theirs.mean()), 4),
            "met": None, "seconds": seconds, "target": None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: the code runs")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--only", nargs="*", help="run only these rows (names as printed)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    import kerakit as kk
    from kerakit.sources.images import image_folder
    from kerakit.sources.source import Source
    from kerakit.sources.tables import table_dataset

    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        customers = write_customers_csv(work, rows=400 if args.quick else 3000)
        pngs = write_digit_pngs(work, limit=200 if args.quick else None)
        tables = [(customers, "churn")] if args.quick else \
            [(write_bundled_csv(n, work), "target") for n in BUNDLED] + [(customers, "churn")]
        jobs: list[tuple[str, object]] = [(f"no-code {p.name}", (p, t)) for p, t in tables]
        jobs.append(("no-code digits_png/", (pngs, None)))
        if not args.quick:
            jobs += [(f"example {s.name}", s) for s in sorted((ROOT / "examples").glob("*.py"))]
        site = None
        for name, job in jobs:
            if args.only and not any(o in name for o in args.only):
                continue
            print(f"running {name} ...", file=sys.stderr, flush=True)
            if name.startswith("no-code"):
                path, target = job
                got = run_no_code_here(path, target, work) if args.quick else \
                    run_no_code(path, target, work, epochs=None)
                if target is None:
                    data = image_folder(path, in_memory=True)
                    rows.append(row(name, "no-code", data, got, "image"))
                else:
                    data = table_dataset(str(path), target)
                    rows.append(row(name, "no-code", data, got, "table"))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)  # kept if stopped
                continue
            script = job
            if script.name == "use_plugins.py":
                site = site or vision_site(work)
            example_dir = work / script.stem
            example_dir.mkdir()
            got = run_example(script, example_dir, args.quick, site)
            source = EXAMPLE_DATA.get(script.name)
            if source == "penguins.csv":
                data = table_dataset(str(example_dir / source), "species")
            elif source == "digits_png":
                data = image_folder(example_dir / source, in_memory=True)
            else:
                facts = Source(source).facts()  # the head of a probe, to split as kk.fit does
                head = kk.use("regressor") if facts.task == "regression" else \
                    kk.use("classifier", classes=len(facts.class_names))
                data = kk.load_data(source, kk.Model(facts.input_shape, ["flatten"], head))
            rows.append(row(name, "example", data, got, None))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    if not args.only or any(o in ESTIMATOR_ROW for o in args.only):
        print(f"running {ESTIMATOR_ROW} ...", file=sys.stderr, flush=True)
        rows.append(estimator_cv_row(args.quick))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    import _trust_rows

    rows += _trust_rows.run_rows(args.only, args.quick, write_bundled_csv, _env(), baselines)
    document = {"quick": args.quick, "rows": rows,
                "targets_met": all(r["met"] for r in rows if r["met"] is not None)}
    if args.json:
        print(json.dumps(document, indent=2))
        return 0
    print(f"{'run':34} {'metric':8} {'kerakit':>8} {'best baseline':>36} {'ratio':>6} "
          f"{'target':>7} {'s':>6}")
    for r in rows:
        verdict = "-" if r["met"] is None else ("met" if r["met"] else "MISSED")
        base = f"{r['baseline']} {r['baseline_score']:.4f}"
        print(f"{r['name']:34} {r['metric']:8} {r['kerakit']:8.4f} {base:>36} "
              f"{r['ratio']:6.3f} {verdict:>7} {r['seconds']:6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
