"""Image classification, start to finish: preprocess, augment, train, validate, test, save.

Run:  python examples/digits_cnn.py [--quick]
"""

import sys

import kerakit as kk
from kerakit import hp

QUICK = "--quick" in sys.argv

digits = kk.Model(
    name="digits_walkthrough",
    inputs=kk.Input(shape=(8, 8, 1)),
    # Standardisation learns its mean and variance on the training split only.
    preprocess=["standardize"],
    # Augmentation is active in training only, and never exported.
    augment=[
        kk.use("random_rotation", factor=0.03),
        kk.use("random_translation", height_factor=0.08, width_factor=0.08),
    ],
    blocks=[
        kk.use("conv_block", filters=32, convs=2),
        kk.use("conv_block", filters=64, convs=2),
        "global_avg_pool",
        kk.use("dropout", rate=hp.Float(0.0, 0.5, default=0.3)),  # tunable; 0.3 without a tuner
    ],
    head=kk.use("classifier", classes=10, class_names=[str(i) for i in range(10)]),
    loss="sparse_categorical_crossentropy",
    optimizer=kk.use("adam", learning_rate=1e-3),
    callbacks=[kk.use("early_stopping", patience=10), "overfitting_monitor"],
    epochs=2 if QUICK else 60,
    batch_size=32,           # mini-batch gradient descent
    validation_split=0.15,   # validation data for early stopping and the curves
)

print(digits)
run = kk.fit(digits, "digits", out="runs/digits_walkthrough", overwrite=True, verbose=2)
print(run.summary())
print("per-class recall:", {
    name: round(run.report["classification_report"][name]["recall"], 3)
    for name in run.report["class_names"]
})

# The run directory holds model.keras, curves.png, metrics.json, ...; reload it anywhere.
model = kk.load(run.dir)
print("reloaded:", model.name, "with", model.count_params(), "parameters")
