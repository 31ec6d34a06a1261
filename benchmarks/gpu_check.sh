#!/usr/bin/env bash
# GPU check: the four ways kerakit trains on GPUs, each as a whole process, on one machine.
#
#   1. the embedded default            kerakit train
#   2. data-parallel                   kerakit train --distribute mirrored
#   3. mixed precision                 kerakit train --precision mixed_float16
#   4. a tuning run, one worker a GPU  kerakit tune --workers N   (N = GPUs, at least 2)
#
# Run from anywhere:  bash benchmarks/gpu_check.sh      (OUT=/path to keep the results)
# It uses the Python on PATH if it imports kerakit's dependencies. On a machine without
# them and without a registry, carry wheels first (on a machine with the registry):
#   pip wheel --no-deps -w wheels . keras keras-tuner kt-legacy six scikit-learn pluggy \
#       matplotlib namex optree ml-dtypes absl-py rich h5py
# and they are installed into a venv over the machine's own TensorFlow or JAX.
# The backend is TensorFlow when it imports, else JAX (KERAS_BACKEND overrides).
# Each case is capped (CASE_TIMEOUT, default 240 s) and a failure does not stop the others;
# $OUT/summary.json gathers the device, each command, its exit status, wall time and metrics.
set -uo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/kerakit-gpu-check}
CASE_TIMEOUT=${CASE_TIMEOUT:-240}
mkdir -p "$OUT"
export KERAKIT_CACHE_DIR="$OUT/cache"

PY=${PYTHON:-python3}
if [ -d wheels ] && ! "$PY" -c "import keras, keras_tuner, sklearn, pluggy" 2>/dev/null; then
    "$PY" -m venv --system-site-packages "$OUT/venv"   # keeps the machine's TF or JAX and CUDA
    "$OUT/venv/bin/pip" install -q --no-index --find-links wheels --no-deps wheels/*.whl
    PY="$OUT/venv/bin/python"
fi
if [ -z "${KERAS_BACKEND:-}" ]; then
    if "$PY" -c "import tensorflow" 2>/dev/null; then KERAS_BACKEND=tensorflow; else KERAS_BACKEND=jax; fi
fi
export KERAS_BACKEND
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

echo "== devices (backend $KERAS_BACKEND)"
nvidia-smi -L | tee "$OUT/devices.txt"
GPUS=$(nvidia-smi -L | grep -c '^GPU ')
WORKERS=$(( GPUS < 2 ? 2 : GPUS ))
"$PY" - <<'EOF' | tee -a "$OUT/devices.txt"
import keras
backend = keras.backend.backend()
if backend == "tensorflow":
    import tensorflow as tf
    print("tensorflow", tf.__version__, tf.config.list_physical_devices("GPU"))
elif backend == "jax":
    import jax
    print("jax", jax.__version__, jax.devices())
print("keras", keras.__version__)
EOF

run_case() {  # name, then the kerakit arguments
    local name=$1; shift
    echo "== $name: kerakit $*"
    local start end rc
    start=$(date +%s.%N)
    timeout "$CASE_TIMEOUT" "$PY" -m kerakit "$@" --json > "$OUT/$name.json" 2> "$OUT/$name.log"
    rc=$?
    end=$(date +%s.%N)
    tail -n 3 "$OUT/$name.log"
    "$PY" - "$OUT" "$name" "$rc" "$start" "$end" "$*" <<'EOF'
import json, sys
out, name, rc, start, end, args = sys.argv[1:]
try:
    result = json.load(open(f"{out}/{name}.json"))
except (OSError, ValueError):
    result = None
row = {"case": name, "command": f"kerakit {args} --json", "rc": int(rc),
       "wall_s": round(float(end) - float(start), 1), "result": result}
with open(f"{out}/summary.jsonl", "a") as f:
    f.write(json.dumps(row) + "\n")
print(json.dumps({k: row[k] for k in ("case", "rc", "wall_s")}))
EOF
}

rm -f "$OUT/summary.jsonl"
run_case default    train --out "$OUT/default" --overwrite
run_case mirrored   train --distribute mirrored --out "$OUT/mirrored" --overwrite
run_case mixed      train --precision mixed_float16 --out "$OUT/mixed" --overwrite
run_case tune       tune --tuner random --max-trials 4 --max-epochs 5 --workers "$WORKERS" \
                         --out "$OUT/tune" --overwrite

"$PY" - "$OUT" "$KERAS_BACKEND" <<'EOF'
import json, sys
out, backend = sys.argv[1:]
rows = [json.loads(line) for line in open(f"{out}/summary.jsonl")]
summary = {"devices": open(f"{out}/devices.txt").read().strip().splitlines(),
           "backend": backend, "cases": rows}
json.dump(summary, open(f"{out}/summary.json", "w"), indent=2)
print(json.dumps(summary, indent=2))
failed = [r["case"] for r in rows if r["rc"] != 0]
print("failed:", failed or "none")
sys.exit(1 if failed else 0)
EOF
