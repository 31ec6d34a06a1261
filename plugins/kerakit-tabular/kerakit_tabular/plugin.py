"""Hook implementations: what the ``tabular`` plugin registers."""

from __future__ import annotations

import kerakit
from kerakit_tabular import model, preprocess

KERAKIT_PLUGIN_API = [1]


def linnerud(val_size: float = 0.2, test_size: float = 0.2, seed: int = 0) -> kerakit.Dataset:
    """Linnerud exercise data: 3 exercises -> 3 body measurements (20 samples, regression)."""
    from sklearn.datasets import load_linnerud

    bunch = load_linnerud()
    data = kerakit.split(bunch.data.astype("float32"), bunch.target.astype("float32"),
                         name="linnerud", task="regression", val_size=val_size,
                         test_size=test_size, seed=seed)
    data.feature_names = list(bunch.feature_names)
    return data


@kerakit.hookimpl
def kerakit_preprocessors(register):
    register("log1p", preprocess.Log1p, tabular=True)
    register("quantile_clip", preprocess.QuantileClip, tabular=True)
    register("impute", preprocess.Impute, tabular=True, accepts_missing=True)


@kerakit.hookimpl
def kerakit_blocks(register):
    register("residual_mlp_block", model.ResidualMLPBlock, input_shape=(6,))
    register("gating_block", model.GatingBlock, input_shape=(6,))


@kerakit.hookimpl
def kerakit_losses(register):
    register("pinball_loss", model.PinballLoss)


@kerakit.hookimpl
def kerakit_initializers(register):
    register("lsuv", model.LSUV)


@kerakit.hookimpl
def kerakit_datasets(register):
    register("linnerud", linnerud)
