"""A component of your own, defined in this script, used by name like a built-in.

Run:  python examples/custom_component.py [--quick]
"""

import sys

import keras
from keras import ops

import kerakit as kk

QUICK = "--quick" in sys.argv


@kk.register_component("blocks")
@keras.saving.register_keras_serializable(package="my_project")
class GatedDense(keras.layers.Layer):
    """Dense layer whose output is scaled by a learned sigmoid gate."""

    def __init__(self, units: int = 32, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.value = keras.layers.Dense(units, activation="relu")
        self.gate = keras.layers.Dense(units, activation="sigmoid")

    def build(self, input_shape):
        self.value.build(input_shape)
        self.gate.build(input_shape)

    def call(self, inputs):
        return ops.multiply(self.value(inputs), self.gate(inputs))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


print(kk.get_component("blocks", "gated_dense"))   # registered as local.gated_dense

wine = kk.Model(
    name="wine_gated",
    inputs=(13,),
    preprocess=["standardize"],
    blocks=[kk.use("gated_dense", units=16)],
    head=kk.use("classifier", classes=3),
    epochs=2 if QUICK else 60,
    batch_size=16,
)
run = kk.fit(wine, "wine", out="runs/wine_gated", overwrite=True, verbose=0)
print(run.summary())

# This script defines the class, so reloading here needs nothing more.
reloaded = kk.load(run.dir)
print("reloaded layers:", [layer.name for layer in reloaded.layers])
