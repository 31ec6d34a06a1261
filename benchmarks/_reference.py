"""Shared by the benchmarks: the hand-written reference model, a per-epoch timer and the
output (one JSON document, or a table of rows)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import keras


class EpochTimer(keras.callbacks.Callback):
    """Wall time between consecutive epoch ends: everything an epoch costs."""

    def on_train_begin(self, logs=None):
        self.times, self.last = [], time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        self.times.append(now - self.last)
        self.last = now


def augmentation_layers() -> list[keras.layers.Layer]:
    """The embedded default's augmentation, as plain Keras layers."""
    return [keras.layers.RandomRotation(0.03), keras.layers.RandomTranslation(0.08, 0.08),
            keras.layers.RandomZoom(0.05), keras.layers.GaussianNoise(0.02)]


def digits_cnn_by_hand(train_x, filters=(32, 64), dropout=0.3, learning_rate=1e-3,
                       augment=True) -> keras.Model:
    """The embedded default's CNN written directly with Keras, compiled.

    Normalisation (adapted on ``train_x``), augmentation, two stages of two
    conv / batch-norm / ReLU with max-pooling, global average pooling, dropout
    and a softmax over 10 classes; Adam and sparse cross-entropy.
    """
    norm = keras.layers.Normalization()
    norm.adapt(train_x)
    inputs = keras.Input((8, 8, 1))
    x = norm(inputs)
    if augment:
        for layer in augmentation_layers():
            x = layer(x)
    for width in filters:
        for _ in range(2):
            x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False,
                                    kernel_initializer="he_normal")(x)
            x = keras.layers.BatchNormalization()(x)
            x = keras.layers.Activation("relu")(x)
        x = keras.layers.MaxPooling2D(2, padding="same")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(dropout)(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def report(result: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], as_json: bool) -> None:
    """Print ``result`` as one JSON document, or ``rows`` as a table with a header."""
    if as_json:
        print(json.dumps(result, indent=2))
        return
    keys = list(rows[0])
    print("  ".join(keys))
    for row in rows:
        print("  ".join(str(row[k]) for k in keys))
