"""kerakit-vision: every component passes kerakit's conformance kit; mixing trains."""

import numpy as np
import pytest

import kerakit as kk
from kerakit.testing import check_plugin, component_names


@pytest.fixture(scope="session")
def report():
    return check_plugin("vision")


@pytest.mark.parametrize("name", component_names(plugin="vision"))
def test_conformance(name, report):
    report.assert_ok(name)


def test_mixup_mixes_labels():
    mixup = kk.get("augmentations", {"name": "vision.mixup", "params": {"alpha": 1.0,
                                                                         "seed": 1}})
    import tensorflow as tf

    x = np.random.rand(8, 8, 8, 1).astype("float32")
    y = np.eye(2, dtype="float32")[[0, 1] * 4]
    pipe = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).map(mixup)
    _, mixed = next(iter(pipe))
    mixed = mixed.numpy()
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, atol=1e-5)
    assert ((mixed > 0.01) & (mixed < 0.99)).any()


def test_focal_loss_is_cross_entropy_at_gamma_zero():
    import keras

    y = np.array([0, 2])
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype="float32")
    focal = kk.get("losses", {"name": "vision.focal_loss", "params": {"gamma": 0.0}})
    ce = keras.losses.SparseCategoricalCrossentropy()
    assert float(focal(y, p)) == pytest.approx(float(ce(y, p)), rel=1e-5)
