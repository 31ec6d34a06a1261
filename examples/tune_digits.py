"""Tune the digits CNN: the declaration is the search space.

Run:  python examples/tune_digits.py [--quick]
"""

import sys

import kerakit as kk
from kerakit import hp

QUICK = "--quick" in sys.argv

space = kk.Model(
    name="digits_search",
    inputs=kk.Input(shape=(8, 8, 1)),
    preprocess=["standardize"],
    # augmentation on or off: a choice between a component and nothing
    augment=[hp.OneOf(kk.use("random_translation", height_factor=0.08, width_factor=0.08), None)],
    blocks=[
        # the block type is a choice too; each option's parameters apply only when chosen
        hp.OneOf(
            kk.use("conv_block", filters=hp.Choice([16, 32]), convs=2),
            kk.use("residual_conv_block", filters=hp.Choice([16, 32])),
        ),
        kk.use("conv_block", filters=64, convs=2),
        "global_avg_pool",
        kk.use("dropout", rate=hp.Float(0.0, 0.5, step=0.1, default=0.2)),
    ],
    head=kk.use("classifier", classes=10),
    optimizer=hp.OneOf(
        kk.use("adam", learning_rate=hp.Float(3e-4, 3e-3, log=True, default=1e-3)),
        kk.use("rmsprop", learning_rate=1e-3),
    ),
    callbacks=[kk.use("early_stopping", patience=5)],
    batch_size=hp.Choice([32, 64]),
    epochs=2 if QUICK else 20,
)

print("search space:", ", ".join(space.hyperparameters()))
result = kk.tune(space, "digits", tuner="random", max_trials=2 if QUICK else 12,
                 directory="tuning/digits_search", overwrite=True, retrain_best=True)
print("best hyperparameters:", result.best_hyperparameters)
print("best declaration:")
print(result.best)
print(result.best_run.summary())   # the best, retrained on train + validation, tested
