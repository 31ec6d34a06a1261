"""A plugin written the natural way: it imports a large library at its top.

With ``KERAKIT_FIXTURE_LAZY_PRINT=1`` it also prints on import, as careless
plugins do, to show that ``--json`` output stays clean.
"""

import os

import keras

import kerakit
from kerakit_fixture_lazy import ballast

if os.environ.get("KERAKIT_FIXTURE_LAZY_PRINT"):
    print("kerakit-fixture-lazy: heavy plugin imported")


@keras.saving.register_keras_serializable(package="kerakit_fixture_lazy")
class HeavyDense(keras.layers.Layer):
    """A dense layer from the heavy plugin."""

    def __init__(self, units: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = keras.layers.Dense(units, activation="relu")

    def call(self, inputs):
        return self.dense(inputs)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@kerakit.hookimpl
def kerakit_blocks(register):
    register("heavy_block", HeavyDense, input_shape=(6,), ballast_size=len(ballast.TABLE))
