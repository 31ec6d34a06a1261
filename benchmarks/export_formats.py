"""Export formats side by side: file size, load time, latency, throughput and test metric.

Two models, trained here: the embedded default (the digits CNN, at its full
length unless --quick) and the no-code default for a numeric table
(scikit-learn's breast cancer data, as a CSV). Each is exported as a
SavedModel, to ONNX, and to LiteRT with every quantization, and each export
is then measured in a fresh process that imports only its runtime
(TensorFlow for the SavedModel, ONNX Runtime, LiteRT): the time to load it,
the median latency of one-row calls, the rows per second of 64-row calls,
and the accuracy on the run's test rows. Ratios are against the SavedModel
measured in the same run.

--quick checks that it works: the table model only, three exports.

Usage: python benchmarks/export_formats.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from _reference import report

import kerakit as kk
from kerakit.deploy import runtimes
from kerakit.deploy.export_files import MANIFEST
from kerakit.deploy.export_job import held_out
from kerakit.deploy.exporting import export

EXPORTS = (("saved_model", "none"), ("onnx", "none"), ("litert", "none"),
           ("litert", "dynamic"), ("litert", "float16"), ("litert", "int8"))
QUICK_EXPORTS = (("saved_model", "none"), ("onnx", "none"), ("litert", "int8"))

MEASURE = r"""
import json, sys, time
import numpy as np
format, export_dir, rows_file, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with np.load(rows_file, allow_pickle=False) as raw:
    arrays = {k: raw[k] for k in raw.files}
y = arrays.pop("__labels__")
x = arrays.pop("__x__") if "__x__" in arrays else arrays
start = time.perf_counter()
if format == "saved_model":
    import tensorflow as tf
    loaded = tf.saved_model.load(export_dir)
    def run(batch):
        batch = {k: tf.constant(v) for k, v in batch.items()} if isinstance(batch, dict) \
            else tf.constant(batch)
        return loaded.serve(batch)["outputs"].numpy()
else:
    sys.path.insert(0, sys.argv[5])
    import runtimes
    file = export_dir + "/" + runtimes.RUNTIME_FILES[format][0]
    run = runtimes.open_runtime(format, file)
def rows(a, b):
    return {k: v[a:b] for k, v in x.items()} if isinstance(x, dict) else x[a:b]
n = len(y)
run(rows(0, 1))
load = time.perf_counter() - start
single = []
for i in range(repeats):
    t = time.perf_counter(); run(rows(i % n, i % n + 1)); single.append(time.perf_counter() - t)
batch = rows(0, 64) if n >= 64 else rows(0, n)
run(batch)
t = time.perf_counter()
for _ in range(max(repeats // 10, 3)):
    run(batch)
per_batch = (time.perf_counter() - t) / max(repeats // 10, 3)
out = np.concatenate([run(rows(a, a + 256)) for a in range(0, n, 256)])
accuracy = float(np.mean(out.argmax(1) == y.reshape(-1))) if out.shape[1] > 1 else \
    float(np.mean((out.reshape(-1) > 0.5) == y.reshape(-1)))
print(json.dumps({"load_s": load, "latency_ms": 1000 * float(np.median(single)),
                  "rows_per_s": min(64, n) / per_batch, "accuracy": accuracy,
                  "heavy": sorted(m for m in ("tensorflow", "keras", "kerakit")
                                  if m in sys.modules)}))
"""


def train(quick: bool, work: Path) -> dict[str, kk.Run]:
    """The embedded default, and the no-code default for the breast cancer table (only that,
    shortened, with --quick)."""
    from sklearn.datasets import load_breast_cancer

    from kerakit.declaration.defaults import digits_cnn

    frame = load_breast_cancer(as_frame=True).frame
    csv = work / "breast_cancer.csv"
    frame.to_csv(csv, index=False)
    table, source = kk.default_for(str(csv), "target")
    runs = {"breast_cancer": kk.fit(table.replace(epochs=3) if quick else table, source,
                                    out=work / "table", verbose=0)}
    if not quick:
        runs["digits_cnn"] = kk.fit(digits_cnn(), "digits", out=work / "cnn", verbose=0)
    return runs


def rows_file(run: kk.Run, work: Path) -> Path:
    """The run's test rows and labels, saved for the measuring process."""
    import keras

    info = {"manifest": json.loads((run.dir / "manifest.json").read_text()),
            "declaration": run.declaration.to_dict()}
    rows = held_out(info, None, kk.load(run.dir))
    keras.backend.clear_session()
    x = rows.x_test
    arrays = {k: np.asarray(v, dtype="float32") for k, v in x.items()} if isinstance(x, dict) \
        else {"__x__": np.asarray(x, dtype="float32")}
    file = work / f"{run.dir.name}-rows.npz"
    np.savez(file, __labels__=np.asarray(rows.y_test), **arrays)
    return file


def measure(run: kk.Run, format: str, quantize: str, rows: Path, work: Path,
            repeats: int) -> dict:
    target = work / f"{run.dir.name}-{format}-{quantize}"
    result = export(run, target, format=format, quantize=quantize)
    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file()
               and f.name not in (MANIFEST, "MODEL_CARD.md", "curves.png", ".kerakit.json"))
    out = subprocess.run([sys.executable, "-c", MEASURE, format, str(target), str(rows),
                          str(repeats), str(Path(runtimes.__file__).parent)],
                         capture_output=True, text=True, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    check = result.manifest.get("verification", {})
    return {"size_kb": round(size / 1024, 1), **{k: round(v, 4) if isinstance(v, float) else v
                                                  for k, v in got.items()},
            "max_abs_diff": check.get("max_abs_diff"), "agreement": check.get("agreement")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run: checks it works")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    repeats = 20 if args.quick else 300
    results: dict[str, dict] = {}
    rows_out = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, run in train(args.quick, work).items():
            rows = rows_file(run, work)
            results[name] = {"test_accuracy_keras": round(run.metrics["accuracy"], 4)}
            for format, quantize in QUICK_EXPORTS if args.quick else EXPORTS:
                found = measure(run, format, quantize, rows, work, repeats)
                results[name][f"{format}-{quantize}"] = found
                print(f"{name} {format}-{quantize}: {found}", file=sys.stderr)
            base = results[name]["saved_model-none"]
            for key, found in results[name].items():
                if not isinstance(found, dict):
                    continue
                found["load_ratio"] = round(found["load_s"] / base["load_s"], 3)
                found["latency_ratio"] = round(found["latency_ms"] / base["latency_ms"], 3)
                found["throughput_ratio"] = round(found["rows_per_s"] / base["rows_per_s"], 3)
                rows_out.append({"model": name, "export": key, **{
                    k: found[k] for k in ("size_kb", "load_s", "latency_ms", "rows_per_s",
                                          "accuracy", "latency_ratio", "throughput_ratio")}})
    report({"quick": args.quick, "repeats": repeats, "models": results}, rows_out, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
