#!/usr/bin/env bash
# GPU check for a machine with an NVIDIA GPU, PyTorch and JAX, but no TensorFlow.
# Carry the wheels first (on a machine with the registry):
#   pip wheel --no-deps -w wheels . keras keras-tuner kt-legacy six scikit-learn pluggy \
#       matplotlib namex optree ml-dtypes absl-py rich h5py
# Then, on the GPU machine:  bash benchmarks/gpu_check.sh   (finishes in under 5 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
export KERAS_BACKEND=jax TF_CPP_MIN_LOG_LEVEL=3
OUT=${OUT:-/tmp/kerakit-gpu-check}
mkdir -p "$OUT"

python -m venv --system-site-packages "$OUT/venv"      # keeps the machine's JAX and CUDA
"$OUT/venv/bin/pip" install -q --no-index --find-links wheels --no-deps wheels/*.whl
PY="$OUT/venv/bin/python"

echo "== devices"
nvidia-smi -L
"$PY" -c "import jax; print('jax', jax.__version__, jax.devices())"

echo "== embedded default on the GPU"
/usr/bin/time -f "wall %e s" "$PY" -m kerakit train --out "$OUT/run" --overwrite --json \
    > "$OUT/train.json"
cat "$OUT/train.json"

echo "== fit overhead"
"$PY" benchmarks/fit_overhead.py --reps 3 --epochs 6 --json | tee "$OUT/fit_overhead.json"

echo "== two-worker tune, one worker per GPU"
/usr/bin/time -f "wall %e s" "$PY" -m kerakit tune --tuner random --max-trials 4 \
    --max-epochs 5 --workers 2 --out "$OUT/tune" --overwrite --json | tee "$OUT/tune.json"
