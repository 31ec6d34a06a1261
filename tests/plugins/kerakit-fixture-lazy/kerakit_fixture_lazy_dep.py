"""The dependency of the ``late`` fixture plugin."""


def late_block(units: int = 3, name: str | None = None):
    """A dense layer from the late plugin's dependency."""
    import keras

    return keras.layers.Dense(units, name=name)
