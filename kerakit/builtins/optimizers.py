"""Built-in optimizers: Keras' own.

Batch, mini-batch and stochastic gradient descent are all ``sgd``; the batch
size chooses between them (the whole training set, a few dozen samples, or 1).
"""

from __future__ import annotations

import keras

CATALOGUE = {
    "sgd": keras.optimizers.SGD,
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "adagrad": keras.optimizers.Adagrad,
    "rmsprop": keras.optimizers.RMSprop,
}
