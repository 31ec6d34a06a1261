"""Tracking overhead: kerakit.fit with a tracker against the same fit with none.

A 3-layer MLP on `digits` is trained untracked, with the built-in
`tensorboard` tracker and with the MLflow tracker (plugins/kerakit-mlflow,
into a local sqlite store in a temporary folder), in rotation, for several
repetitions. Reported per tracker: the median epoch time after warm-up and the
median whole-run time (start and end events included: creating the MLflow run,
copying the artifacts), each as a ratio to the untracked baseline measured in
the same run. Target: epoch ratio <= 1.05 (per-epoch logging is cheap).

Usage: python benchmarks/tracking_overhead.py [--reps 3] [--epochs 10] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins" / "kerakit-mlflow"))  # the plugin, uninstalled

from _reference import EpochTimer, report  # noqa: E402

import kerakit as kk  # noqa: E402

WARMUP = 2
TARGET = 1.05


def declaration(epochs: int) -> kk.Model:
    return kk.Model(name="digits_mlp", inputs=(8, 8, 1), preprocess=["standardize"],
                    blocks=["flatten", kk.use("dense_block", units=128),
                            kk.use("dense_block", units=64)],
                    head=kk.use("classifier", classes=10), epochs=epochs, batch_size=32)


def one_run(decl: kk.Model, data, track: list[str], out: Path) -> tuple[list[float], float]:
    timer = EpochTimer()
    started = time.perf_counter()
    kk.fit(decl, data, out=out, verbose=0, callbacks=[timer], track=track)
    return timer.times[WARMUP:], time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="tiny run: checks it works")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.epochs = 1, WARMUP + 1

    from kerakit_mlflow.tracker import MlflowTracker

    kk.register_component("trackers", "bench_mlflow", MlflowTracker)
    variants = {"none": [], "tensorboard": ["tensorboard"], "mlflow": ["bench_mlflow"]}
    epochs = {name: [] for name in variants}
    totals = {name: [] for name in variants}
    decl = declaration(args.epochs)
    data = kk.load_data("digits", decl)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        if not args.quick:  # creates the store's tables before anything is timed
            one_run(decl, data, ["bench_mlflow"], Path(tmp) / "warm")
        for rep in range(args.reps):
            for name, track in variants.items():
                times, total = one_run(decl, data, track, Path(tmp) / "runs" / f"{name}{rep}")
                epochs[name].extend(times)
                totals[name].append(total)
    base_epoch = statistics.median(epochs["none"])
    base_total = statistics.median(totals["none"])
    rows = []
    for name in variants:
        epoch = statistics.median(epochs[name])
        total = statistics.median(totals[name])
        rows.append({"tracker": name, "epoch_ms": round(epoch * 1000, 1),
                     "epoch_ratio": round(epoch / base_epoch, 3),
                     "run_s": round(total, 2), "run_ratio": round(total / base_total, 3),
                     "target_met": epoch / base_epoch <= TARGET})
    result = {"reps": args.reps, "epochs": args.epochs, "target_epoch_ratio": TARGET,
              "rows": rows}
    report(result, rows, args.json)


if __name__ == "__main__":
    main()
