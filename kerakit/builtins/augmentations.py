"""Built-in augmentations: Keras' random preprocessing layers.

Each is active in training only; kerakit also leaves them out of exports.
Factors default to light augmentation, suitable for small images.
"""

from __future__ import annotations

import keras

CATALOGUE = {
    "random_rotation": (keras.layers.RandomRotation, {"defaults": {"factor": 0.05}}),
    "random_zoom": (keras.layers.RandomZoom, {"defaults": {"height_factor": 0.1}}),
    "random_translation": (
        keras.layers.RandomTranslation,
        {"defaults": {"height_factor": 0.1, "width_factor": 0.1}},
    ),
    "random_flip": keras.layers.RandomFlip,
    "random_crop": (keras.layers.RandomCrop, {"defaults": {"height": 6, "width": 6}}),
    "gaussian_noise": (keras.layers.GaussianNoise, {"defaults": {"stddev": 0.1}}),
    "random_contrast": (keras.layers.RandomContrast, {"defaults": {"factor": 0.2}}),
    "random_brightness": (keras.layers.RandomBrightness, {"defaults": {"factor": 0.2}}),
}
