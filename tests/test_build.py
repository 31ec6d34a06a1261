"""Declaration -> keras.Model: names, defaults, adaptation, errors, inference graph."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import kerakit as kk
from kerakit.engine.builder import inference_model
from kerakit.errors import DeclarationError


def image_decl(**changes) -> kk.Model:
    decl = kk.Model(
        inputs=(8, 8, 1),
        preprocess=["standardize"],
        augment=[kk.use("random_rotation", factor=0.2), "gaussian_noise"],
        blocks=[kk.use("conv_block", filters=4), "global_avg_pool", kk.use("dense_block", units=8)],
        head=kk.use("classifier", classes=3),
    )
    return decl.replace(**changes) if changes else decl


def test_layer_names_show_their_components():
    names = [layer.name for layer in kk.build(image_decl()).layers]
    assert names == [
        "inputs", "preprocess_0_standardize", "augment_0_random_rotation",
        "augment_1_gaussian_noise", "block_0_conv_block", "block_1_global_avg_pool",
        "block_2_dense_block", "head_classifier",
    ]


def test_build_compiles_with_inferred_loss_and_metrics():
    model = kk.build(image_decl())
    assert model.loss.name == "sparse_categorical_crossentropy"
    x, y = np.random.rand(16, 8, 8, 1), np.arange(16) % 3
    values = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(values) == {"loss", "accuracy"}
    regression = kk.build(kk.Model((4,), blocks=["dense_block"], head="regressor"))
    assert regression.loss.name == "mean_squared_error"


def test_default_initializer_and_regularizer_reach_the_blocks():
    decl = image_decl(initializer=kk.use("random_normal", stddev=0.5),
                      regularizer={"class_name": "L2", "config": {"l2": 0.01}})
    model = kk.build(decl)
    dense = model.get_layer("block_2_dense_block").dense
    assert isinstance(dense.kernel_initializer, keras.initializers.RandomNormal)
    assert dense.kernel_initializer.stddev == 0.5
    assert isinstance(dense.kernel_regularizer, keras.regularizers.L2)
    assert model.losses  # the regularization penalty is applied
    # an explicit parameter wins over the default
    decl = image_decl(initializer="zeros", blocks=[
        kk.use("dense_block", units=4, kernel_initializer="ones"), "flatten"])
    kernel = kk.build(decl).get_layer("block_0_dense_block").dense.kernel
    assert np.all(keras.ops.convert_to_numpy(kernel) == 1.0)


def test_standardisation_adapts_on_the_given_training_data_only():
    train = np.random.default_rng(0).normal(5.0, 2.0, size=(200, 8, 8, 1)).astype("float32")
    model = kk.build(image_decl(), adapt_data=train)
    out = keras.ops.convert_to_numpy(model.get_layer("preprocess_0_standardize")(train))
    assert abs(out.mean()) < 1e-4 and abs(out.std() - 1.0) < 1e-3


def test_incompatible_shapes_name_the_component():
    decl = image_decl(blocks=[kk.use("conv_block", filters=4), kk.use("dense_block")])
    with pytest.raises(DeclarationError, match=r"head \(classifier\): Expected a 2-D output"):
        kk.build(decl)
    flat = kk.Model((4,), blocks=["dense_block", kk.use("conv_block", filters=2)],
                    head="regressor")
    with pytest.raises(DeclarationError, match=r"blocks\[1\] \(conv_block\) cannot take its input"):
        kk.build(flat)


def test_bad_parameter_value_names_the_component():
    with pytest.raises(DeclarationError, match=r"blocks\[0\] \(conv_block\).*pool"):
        kk.build(image_decl(blocks=[kk.use("conv_block", pool="median"), "flatten"]))


def test_inference_model_leaves_augmentation_out_and_shares_weights():
    model = kk.build(image_decl())
    inference = inference_model(model)
    assert not [layer for layer in inference.layers if layer.name.startswith("augment_")]
    x = np.random.rand(4, 8, 8, 1).astype("float32")
    np.testing.assert_allclose(inference.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)
    assert inference.get_layer("block_0_conv_block") is model.get_layer("block_0_conv_block")


def test_seed_makes_builds_repeatable():
    a = kk.build(image_decl(seed=7)).get_weights()
    b = kk.build(image_decl(seed=7)).get_weights()
    c = kk.build(image_decl(seed=8)).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))
