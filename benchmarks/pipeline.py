"""Where augmentation runs: inside the model, or in a tf.data map with prefetch.

The embedded default's CNN on `digits`, trained both ways in the same run:

- `model`: the augmentation layers are the model's first layers (what Keras
  does when you put them in a Sequential), so they run in the training step;
- `pipeline`: the model has no augmentation; the same layers run in a
  `tf.data` map over batches, with prefetch, overlapping the training step.

Reported: median seconds per epoch after warm-up, and the ratio
pipeline / model, next to the placement kerakit picks by default for the
current device.

Usage: python benchmarks/pipeline.py [--reps 5] [--epochs 8] [--quick] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import tensorflow as tf
from _reference import EpochTimer, augmentation_layers, digits_cnn_by_hand

import kerakit as kk

WARMUP = 2



def run(placement: str, data, epochs: int) -> float:
    keras.utils.set_random_seed(0)
    model = digits_cnn_by_hand(data.x_train, augment=placement == "model")
    timer = EpochTimer()
    if placement == "model":
        model.fit(data.x_train, data.y_train, batch_size=32, epochs=epochs, verbose=0,
                  validation_data=(data.x_val, data.y_val), callbacks=[timer])
    else:
        layers = augmentation_layers()

        # Here augmentation sees raw pixels, before the model's normalisation: the order
        # changes the fill value of rotated corners, not the cost being measured.
        def augment(x, y):
            for layer in layers:
                x = layer(x, training=True)
            return x, y

        pipe = (tf.data.Dataset.from_tensor_slices((data.x_train, data.y_train))
                .shuffle(len(data.x_train), seed=0).batch(32)
                .map(augment, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))
        model.fit(pipe, epochs=epochs, verbose=0, validation_data=(data.x_val, data.y_val),
                  callbacks=[timer])
    return statistics.median(timer.times[WARMUP:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.epochs = 1, WARMUP + 1
    data = kk.get_component("datasets", "digits").create()
    times = {"model": [], "pipeline": []}
    for _ in range(args.reps):
        for placement in times:
            times[placement].append(run(placement, data, args.epochs))
    model_s, pipe_s = (statistics.median(times[p]) for p in ("model", "pipeline"))
    gpus = len(tf.config.list_physical_devices("GPU"))
    result = {
        "machine": f"{os.cpu_count()} cores, {gpus} GPUs, backend {keras.backend.backend()}",
        "model_s_per_epoch": round(model_s, 4),
        "pipeline_s_per_epoch": round(pipe_s, 4),
        "ratio_pipeline_to_model": round(pipe_s / model_s, 3),
        "faster": "pipeline" if pipe_s < model_s else "model",
        "spread_s": {p: round(max(t) - min(t), 4) for p, t in times.items()},
    }
    print(json.dumps(result, indent=2) if args.json else
          "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
