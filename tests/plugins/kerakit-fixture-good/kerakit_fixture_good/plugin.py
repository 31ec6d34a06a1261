"""A well-behaved plugin: one block, one loss and one callback."""

import keras
from keras import ops

import kerakit


@keras.saving.register_keras_serializable(package="kerakit_fixture_good")
class ScaleBlock(keras.layers.Layer):
    """Multiply inputs by a learned per-feature scale."""

    def __init__(self, init: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.init = init

    def build(self, input_shape):
        self.scale = self.add_weight(
            name="scale", shape=(input_shape[-1],),
            initializer=keras.initializers.Constant(self.init),
        )

    def call(self, inputs):
        return inputs * ops.cast(self.scale, inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "init": self.init}


def log_cosh():
    """Log-cosh regression loss."""
    return keras.losses.LogCosh()


@kerakit.hookimpl
def kerakit_blocks(register):
    register("scale_block", ScaleBlock)


@kerakit.hookimpl
def kerakit_losses(register):
    register("log_cosh", log_cosh, summary="Smooth L1-like loss: log(cosh(error)).")
