"""The embedded default: a small CNN on ``digits``, and its search space.

``kerakit train`` with no recipe trains it; ``kerakit tune`` searches the
placeholders. Without a tuner every placeholder takes its default, which is
the configuration measured in ``docs/performance.md``.
"""

from __future__ import annotations

from kerakit import hp
from kerakit.declaration.model import Input, Model, use

DEFAULT_DATA = "digits"


def digits_cnn() -> Model:
    """Standardise, lightly augment, two conv stages, Adam, cross-entropy, early stopping."""
    return Model(
        name="digits_cnn",
        inputs=Input(shape=(8, 8, 1)),
        preprocess=["standardize"],
        augment=[
            use("random_rotation", factor=0.03),
            use("random_translation", height_factor=0.08, width_factor=0.08),
            use("random_zoom", height_factor=0.05),
            use("gaussian_noise", stddev=0.02),
        ],
        blocks=[
            use("conv_block", filters=hp.Choice([16, 32, 48], default=32), convs=2),
            use("conv_block", filters=hp.Choice([32, 64, 96], default=64), convs=2),
            "global_avg_pool",
            use("dropout", rate=hp.Float(0.0, 0.5, step=0.1, default=0.3)),
        ],
        head=use("classifier", classes=10, class_names=[str(i) for i in range(10)]),
        loss="sparse_categorical_crossentropy",
        optimizer=use("adam", learning_rate=hp.Float(3e-4, 3e-3, log=True, default=1e-3)),
        metrics=["accuracy"],
        callbacks=[use("early_stopping", patience=12)],
        epochs=80,
        batch_size=hp.Choice([32, 64], default=32),
        validation_split=0.15,
        seed=0,
    )
