"""A working plugin that prints on import, as some libraries do: stdout of --json must not care."""

import keras

import kerakit

print("kerakit-fixture-noisy: hello from import")


@keras.saving.register_keras_serializable(package="kerakit_fixture_noisy")
class NoisyIdentity(keras.layers.Layer):
    """Pass inputs through unchanged (a model using it needs this plugin to load)."""

    def call(self, inputs):
        return inputs


@kerakit.hookimpl
def kerakit_blocks(register):
    register("noisy_identity", NoisyIdentity)
