"""Built-in weight initializers: Keras' own, under the names Keras users know."""

from __future__ import annotations

import keras

CATALOGUE = {
    "random_uniform": keras.initializers.RandomUniform,  # uniform
    "random_normal": keras.initializers.RandomNormal,  # Gaussian
    "truncated_normal": keras.initializers.TruncatedNormal,
    "glorot_uniform": keras.initializers.GlorotUniform,
    "glorot_normal": keras.initializers.GlorotNormal,
    "he_uniform": keras.initializers.HeUniform,
    "he_normal": keras.initializers.HeNormal,
    "orthogonal": keras.initializers.Orthogonal,
    "zeros": keras.initializers.Zeros,
    "ones": keras.initializers.Ones,
}
