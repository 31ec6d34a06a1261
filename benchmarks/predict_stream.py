"""`kerakit predict` on a large table: streamed in chunks against the whole file in memory.

A small classifier is trained here on a generated table of an ID, eight float
columns and one text category (10 columns), and exported as a SavedModel.
Then `kerakit predict` runs in a fresh process on a generated CSV of `--rows`
rows (default 4,000,000), streamed to Parquet with `--id id`; and, as the
baseline measured in the same run, on a CSV of `--baseline-rows` rows
(default a tenth) both in memory (the path small inputs take, `--out
preds.csv`) and streamed. Reported for each: wall time (process start,
TensorFlow's import and the model's load included), rows per second (also
as the streamed run reports it once the model is loaded), and the process's
peak resident memory (`ru_maxrss` from `os.wait4`, through a small launcher:
see `LAUNCH`). TensorFlow's import alone peaks near 830 MiB. Ratios:
streamed against in memory at the baseline size. Targets: at least 20,000
rows/s on 2 cores and under 1 GiB peak for the large run.

Usage: python benchmarks/predict_stream.py [--rows N] [--quick] [--json]
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
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from _reference import report

import kerakit as kk
from kerakit.deploy.batch_predict import STREAM_BYTES

FLOATS = 8
MIN_ROWS_PER_S = 20_000
MAX_PEAK_MIB = 1024


def table(rows: int, start: int = 0, seed: int = 0) -> pa.Table:
    """Rows ``start`` to ``start + rows``: an ID, eight floats, a category and a label."""
    rng = np.random.default_rng(seed + start)
    x = rng.normal(size=(rows, FLOATS))
    island = rng.choice(np.array(["Biscoe", "Dream", "Torgersen"]), rows)
    columns = {"id": np.arange(start, start + rows),
               **{f"x{i}": x[:, i] for i in range(FLOATS)}, "island": island}
    label = np.where(x[:, 0] + x[:, 1] + (island == "Dream") > 0.5, "up", "down")
    return pa.table({**columns, "label": label})


def write_csv(path: Path, rows: int, block: int = 500_000) -> None:
    """A generated CSV of ``rows`` rows, written in blocks (without the label)."""
    first = table(1).drop_columns(["label"])
    with pacsv.CSVWriter(path, first.schema) as writer:
        for start in range(0, rows, block):
            writer.write_table(table(min(block, rows - start), start).drop_columns(["label"]))


def train(work: Path, quick: bool) -> Path:
    """A small classifier on the generated table, exported as a SavedModel."""
    pacsv.write_csv(table(2_000, seed=7).drop_columns(["id"]), work / "train.csv")
    decl = kk.Model(kk.Input((None,)), [kk.use("dense_block", units=32)],
                    kk.use("classifier", classes=2), epochs=1 if quick else 3,
                    name="stream_bench")
    run = kk.fit(decl, str(work / "train.csv"), target="label", out=work / "run", verbose=0)
    kk.export(run, work / "export")
    return work / "export"


#: Runs a command and prints its peak RSS. Linux counts in a child's ru_maxrss its
#: parent's resident memory at the fork, so this small process, not the benchmark (which
#: holds TensorFlow and a trained model), is the parent of the measured `kerakit predict`.
LAUNCH = r"""
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def predict(export: Path, data: Path, out: Path, *extra: str) -> dict:
    """One `kerakit predict` process: wall time, rows/s and its own peak RSS."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", LAUNCH, sys.executable, "-m", "kerakit",
                           "predict", str(export), str(data), "--out", str(out), *extra],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    stderr = proc.stderr
    status, peak_kib = map(int, proc.stdout.split()) if proc.returncode == 0 else (1, 0)
    if status:
        raise RuntimeError(f"kerakit predict failed: {stderr[-3000:]}")
    if out.suffix == ".parquet":
        rows = pq.ParquetFile(out).metadata.num_rows
    else:
        with open(out) as f:
            rows = sum(1 for _ in f) - 1
    found = {"rows": rows, "wall_s": round(wall, 2), "rows_per_s": round(rows / wall),
             "peak_rss_mib": round(peak_kib / 1024)}
    # a streamed run's last progress line: its rate once the model is loaded
    rates = re.findall(r"([\d,]+) rows/s", stderr)
    if rates:
        found["rows_per_s_after_load"] = int(rates[-1].replace(",", ""))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--baseline-rows", type=int, help="default: a tenth of --rows")
    parser.add_argument("--quick", action="store_true", help="tiny run: checks it works")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = 20_000 if args.quick else args.rows
    small = args.baseline_rows or max(rows // 10, 1_000)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("training and exporting the model", file=sys.stderr)
        export = train(work, args.quick)
        runs = {}
        for name, n in (("baseline", small), ("large", rows)):
            print(f"writing a {n:,}-row CSV", file=sys.stderr)
            write_csv(work / f"{name}.csv", n)
            size = (work / f"{name}.csv").stat().st_size
            if name == "baseline":
                if size > STREAM_BYTES:  # kerakit predict would stream it
                    parser.error(f"--baseline-rows {n:,} makes a CSV over the streaming "
                                 f"threshold ({STREAM_BYTES:,} bytes); choose fewer")
                print("predicting in memory", file=sys.stderr)
                runs["in_memory_baseline"] = predict(export, work / "baseline.csv",
                                                     work / "memory.csv")
            print(f"predicting {n:,} rows streamed", file=sys.stderr)
            runs[f"streamed_{name}"] = {**predict(export, work / f"{name}.csv",
                                                  work / f"{name}.parquet", "--id", "id"),
                                        "input_mib": round(size / 2**20, 1)}
            assert runs[f"streamed_{name}"]["rows"] == n
    def judged(met: bool) -> str:
        return "not judged (--quick)" if args.quick else "met" if met else "not met"

    memory, streamed, large = (runs[k] for k in ("in_memory_baseline", "streamed_baseline",
                                                 "streamed_large"))
    result = {
        "machine": f"{os.cpu_count()} cores", "rows": rows, "baseline_rows": small, **runs,
        "ratio_streamed_to_in_memory_rows_per_s": round(streamed["rows_per_s"]
                                                        / memory["rows_per_s"], 2),
        "ratio_streamed_to_in_memory_peak": round(streamed["peak_rss_mib"]
                                                  / memory["peak_rss_mib"], 2),
        "targets": {  # judged at full length: --quick's few rows are mostly start-up
            f"rows_per_s >= {MIN_ROWS_PER_S:,}": judged(large["rows_per_s"] >= MIN_ROWS_PER_S),
            f"peak < {MAX_PEAK_MIB} MiB": judged(large["peak_rss_mib"] < MAX_PEAK_MIB)},
    }
    report(result, [{"run": k, **v} for k, v in runs.items()], args.json)
    if not args.json:
        print(json.dumps(result["targets"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
