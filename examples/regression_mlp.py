"""Regression on `diabetes`: standardisation, MSE, mini-batch SGD, L2, reduce-LR, early stopping.

kerakit standardises the targets on the training split (``standardize_targets``,
on by default): the optimiser sees targets of mean 0 and deviation 1, so one
learning rate suits any units, while predictions and the reported metrics
are in the original units. ``benchmarks/quality.py`` compares this run with
scikit-learn's ``RidgeCV`` on the same split.

Run:  python examples/regression_mlp.py [--quick]
"""

import sys

import kerakit as kk

QUICK = "--quick" in sys.argv

diabetes = kk.Model(
    name="diabetes_mlp",
    inputs=kk.Input(shape=(10,)),
    preprocess=["standardize"],
    blocks=[
        kk.use("dense_block", units=32, l2=1e-3),
        kk.use("dense_block", units=16, l2=1e-3, dropout=0.1),
    ],
    head=kk.use("regressor"),
    loss="mse",
    # batch_size 32 makes this mini-batch SGD; 1 would be stochastic, the
    # training-set size (about 280) full-batch gradient descent.
    optimizer=kk.use("sgd", learning_rate=0.01, momentum=0.9),
    metrics=["mae", "rmse"],
    callbacks=[
        kk.use("reduce_lr_on_plateau", patience=8),
        kk.use("early_stopping", patience=25),  # keeps the best epoch's weights
    ],
    epochs=3 if QUICK else 300,
    batch_size=32,
)

run = kk.fit(diabetes, "diabetes", out="runs/diabetes_mlp", overwrite=True, verbose=0)
print(run.summary())
