"""Shared by the benchmarks: per-epoch wall time."""

from __future__ import annotations

import time

import keras


class EpochTimer(keras.callbacks.Callback):
    """Wall time between consecutive epoch ends: everything an epoch costs."""

    def on_train_begin(self, logs=None):
        self.times, self.last = [], time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        self.times.append(now - self.last)
        self.last = now
