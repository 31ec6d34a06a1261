"""Cost of the training backup: an atomic save every epoch against none, and against Keras'.

The same kerakit run of the digits MLP and CNN, three ways, alternating, for
several repetitions: no backup in the run (``backup_every`` beyond the run's
length), kerakit's backup after every epoch (``backup_every=0``: weights to a
temporary file, fsync, rename, then the JSON state the same way), and no
kerakit backup but Keras' own ``BackupAndRestore`` after every epoch (what
kerakit used before; it writes in place). Reported: the median time per
epoch after warm-up, and each variant's ratio to the run without a backup
measured in the same process. The default, ``backup_every=30``, saves at
most every 30 seconds, so its cost per epoch is the every-epoch cost divided
by the epochs in 30 seconds.

Usage: python benchmarks/backup_cost.py [--reps 3] [--epochs 8] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
from _reference import EpochTimer, report
from fit_overhead import cnn_declaration, mlp_declaration

import kerakit as kk

WARMUP = 2
NEVER = 1e9


def time_run(decl: kk.Model, data, variant: str) -> list[float]:
    timer = EpochTimer()
    with tempfile.TemporaryDirectory() as tmp:
        callbacks: list = [timer]
        every = 0 if variant == "kerakit_every_epoch" else NEVER
        if variant == "keras_every_epoch":
            callbacks.insert(0, keras.callbacks.BackupAndRestore(str(Path(tmp) / "keras")))
        kk.fit(decl, data, out=Path(tmp) / "run", verbose=0, callbacks=callbacks,
               backup_every=every)
    return timer.times[WARMUP:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="tiny run: checks it works")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.epochs = 1, WARMUP + 1
    data = kk.get_component("datasets", "digits").create()
    variants = ("none", "kerakit_every_epoch", "keras_every_epoch")
    rows = []
    models = {"mlp": mlp_declaration, "cnn": cnn_declaration}
    if args.quick:
        del models["cnn"]
    for name, declare in models.items():
        times: dict[str, list[float]] = {v: [] for v in variants}
        for _ in range(args.reps):  # alternate, so drift in machine load hits every variant
            for variant in variants:
                times[variant].append(statistics.median(
                    time_run(declare(args.epochs), data, variant)))
        base = statistics.median(times["none"])
        row = {"model": name, "none_s_per_epoch": round(base, 4)}
        for variant in variants[1:]:
            t = statistics.median(times[variant])
            row[f"{variant}_s_per_epoch"] = round(t, 4)
            row[f"{variant}_ratio"] = round(t / base, 3)
            row[f"{variant}_ms_per_save"] = round((t - base) * 1000, 1)
        row["spread_s"] = round(max(max(v) - min(v) for v in times.values()), 4)
        rows.append(row)
    result = {"machine": f"{os.cpu_count()} cores, backend {keras.backend.backend()}",
              "reps": args.reps, "epochs": args.epochs, "warmup_epochs": WARMUP, "rows": rows}
    report(result, rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
