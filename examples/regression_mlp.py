"""Regression on `diabetes`: standardisation, MSE, mini-batch SGD, L2, reduce-LR, convergence stop.

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
        kk.use("dense_block", units=32, l2=1e-4),
        kk.use("dense_block", units=16, l2=1e-4, dropout=0.1),
    ],
    head=kk.use("regressor"),
    loss="mse",
    # batch_size 32 makes this mini-batch SGD; 1 would be stochastic, the
    # training-set size (about 280) full-batch gradient descent.
    optimizer=kk.use("sgd", learning_rate=3e-4, momentum=0.9),
    metrics=["mae", "rmse"],
    callbacks=[
        kk.use("reduce_lr_on_plateau", patience=5),
        kk.use("convergence_stop", min_delta=1.0, patience=5),  # also stops a diverged run
    ],
    epochs=3 if QUICK else 300,
    batch_size=32,
)

run = kk.fit(diabetes, "diabetes", out="runs/diabetes_mlp", overwrite=True, verbose=0)
print(run.summary())
