"""kerakit-tabular: conformance for every component, and behaviour of the statistics."""

import numpy as np
import pytest

import kerakit as kk
from kerakit.testing import check_plugin, component_names


@pytest.fixture(scope="session")
def report():
    return check_plugin("tabular")


@pytest.mark.parametrize("name", component_names(plugin="tabular"))
def test_conformance(name, report):
    report.assert_ok(name)


def test_impute_fills_with_training_medians():
    layer = kk.get("preprocessors", "tabular.impute")
    train = np.array([[1.0, 10.0], [3.0, np.nan], [5.0, 30.0]], dtype="float32")
    layer.adapt(train)
    out = np.asarray(layer(np.array([[np.nan, np.nan]], dtype="float32")))
    np.testing.assert_allclose(out, [[3.0, 20.0]])


def test_pinball_loss_is_half_mae_at_the_median():
    loss = kk.get("losses", "tabular.pinball_loss")
    y, p = np.array([[1.0], [3.0]]), np.array([[2.0], [2.0]], dtype="float32")
    assert float(loss(y, p)) == pytest.approx(0.5)


def test_linnerud_trains(tmp_path):
    decl = kk.Model(inputs=(3,), preprocess=["standardize"],
                    blocks=[kk.use("tabular.residual_mlp_block", units=8)],
                    head=kk.use("regressor", units=3), epochs=2, batch_size=4)
    run = kk.fit(decl, "tabular.linnerud", out=tmp_path / "run", verbose=0)
    assert np.isfinite(run.metrics["loss"])
