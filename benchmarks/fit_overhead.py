"""Training overhead: kerakit.fit against the same model written by hand with model.fit.

Two architectures on `digits`: the embedded default's CNN (with its
preprocessing and augmentation) and a 3-layer MLP. Each is trained once
through kerakit (declared, built, `kerakit.fit` with its default callbacks)
and once written by hand as a `keras.Model` with `model.fit`, alternating, for
several repetitions. Reported: the median time per epoch after warm-up, its
spread, and the ratio kerakit / hand-written (target: <= 1.03); and the median
first epoch, which holds the tracing of the training step (no target: kerakit
creates the training state before `fit`, so TensorFlow traces the step once
where a hand-written `fit` traces it twice).

Usage: python benchmarks/fit_overhead.py [--reps 5] [--epochs 8] [--quick] [--json]
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
from _reference import EpochTimer, digits_cnn_by_hand, report

import kerakit as kk
from kerakit.declaration.defaults import digits_cnn
from kerakit.declaration.model import resolve

WARMUP = 2



def cnn_declaration(epochs: int) -> kk.Model:
    return resolve(digits_cnn()).replace(callbacks=[], epochs=epochs)


def mlp_declaration(epochs: int) -> kk.Model:
    return kk.Model(name="digits_mlp", inputs=(8, 8, 1), preprocess=["standardize"],
                    blocks=["flatten", kk.use("dense_block", units=128),
                            kk.use("dense_block", units=64), kk.use("dense_block", units=32)],
                    head=kk.use("classifier", classes=10), optimizer="adam", epochs=epochs,
                    batch_size=32)


def hand_cnn(data) -> keras.Model:
    return digits_cnn_by_hand(data.x_train)


def hand_mlp(data) -> keras.Model:
    norm = keras.layers.Normalization()
    norm.adapt(data.x_train)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(norm(inputs))
    for units in (128, 64, 32):
        x = keras.layers.Activation("relu")(keras.layers.Dense(units)(x))
    return _compile(keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x)))


def _compile(model: keras.Model) -> keras.Model:
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def time_kerakit(decl, data) -> list[float]:
    """Each epoch's seconds, the first (with the tracing) included."""
    timer = EpochTimer()
    with tempfile.TemporaryDirectory() as tmp:
        kk.fit(decl, data, out=Path(tmp) / "run", verbose=0, callbacks=[timer])
    return timer.times


def time_hand(build, data, epochs: int) -> list[float]:
    keras.utils.set_random_seed(0)
    model, timer = build(data), EpochTimer()
    model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val),
              batch_size=32, epochs=epochs, verbose=0, callbacks=[timer])
    return timer.times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="tiny run: checks it works")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.reps, args.epochs = 1, WARMUP + 1
    data = kk.get_component("datasets", "digits").create()
    cases = {"cnn": (cnn_declaration, hand_cnn), "mlp": (mlp_declaration, hand_mlp)}
    rows = []
    for name, (declare, build) in cases.items():
        ours, theirs, our_first, their_first = [], [], [], []
        for _ in range(args.reps):  # alternate, so drift in machine load hits both sides
            epochs = time_kerakit(declare(args.epochs), data)
            ours.append(statistics.median(epochs[WARMUP:]))
            our_first.append(epochs[0])
            epochs = time_hand(build, data, args.epochs)
            theirs.append(statistics.median(epochs[WARMUP:]))
            their_first.append(epochs[0])
        k, h = statistics.median(ours), statistics.median(theirs)
        k1, h1 = statistics.median(our_first), statistics.median(their_first)
        rows.append({"model": name, "kerakit_s_per_epoch": round(k, 4),
                     "kerakit_spread_s": round(max(ours) - min(ours), 4),
                     "keras_s_per_epoch": round(h, 4),
                     "keras_spread_s": round(max(theirs) - min(theirs), 4),
                     "ratio": round(k / h, 3), "target": 1.03, "met": k / h <= 1.03,
                     "kerakit_first_epoch_s": round(k1, 3), "keras_first_epoch_s": round(h1, 3),
                     "first_epoch_ratio": round(k1 / h1, 3)})
    result = {"machine": f"{os.cpu_count()} cores, backend {keras.backend.backend()}",
              "reps": args.reps, "epochs": args.epochs, "warmup_epochs": WARMUP, "rows": rows}
    report(result, rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
