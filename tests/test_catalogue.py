"""Every built-in component: documented, builds, runs, and survives a config round trip."""

from __future__ import annotations

import types

import keras
import numpy as np
import pytest

import kerakit as kk
from kerakit.builtins.callbacks import ConvergenceStop, OverfittingMonitor
from kerakit.builtins.losses import SparseCategoricalCrossentropy
from kerakit.builtins.preprocessors import MinMaxNormalization
from kerakit.registry.discovery import load_plugins

BUILTINS = load_plugins(autoload=False).list(plugin="kerakit")
LAYER_KINDS = ("preprocessors", "augmentations", "blocks")
FLAT_INPUT = {"dense_block", "classifier", "regressor", "dropout"}


def ids(component) -> str:
    return f"{component.kind}:{component.name}"


def create(component):
    return component.create(**component.metadata.get("example", {}))


def sample_input(component) -> np.ndarray:
    rng = np.random.default_rng(0)
    if component.name == "one_hot":
        return np.array([[0], [3]], dtype="int32")
    if component.name in FLAT_INPUT:
        return rng.random((2, 6), dtype="float32")
    return rng.random((2, 8, 8, 3), dtype="float32")


def test_catalogue_covers_the_classic_pipeline():
    names = {(c.kind, c.name) for c in BUILTINS}
    expected = {
        ("preprocessors", n) for n in
        ("normalize", "standardize", "rescale", "resize", "center_crop", "one_hot")
    } | {
        ("augmentations", n) for n in
        ("random_rotation", "random_zoom", "random_translation", "random_flip", "random_crop",
         "gaussian_noise", "random_contrast", "random_brightness")
    } | {
        ("blocks", n) for n in
        ("dense_block", "conv_block", "residual_conv_block", "flatten", "global_avg_pool",
         "dropout", "classifier", "regressor")
    } | {
        ("losses", n) for n in
        ("mse", "mae", "huber", "binary_crossentropy", "categorical_crossentropy",
         "sparse_categorical_crossentropy")
    } | {
        ("initializers", n) for n in
        ("random_uniform", "random_normal", "truncated_normal", "glorot_uniform",
         "glorot_normal", "he_uniform", "he_normal", "orthogonal", "zeros", "ones")
    } | {("optimizers", n) for n in ("sgd", "adam", "adamw", "adagrad", "rmsprop")} | {
        ("metrics", n) for n in ("accuracy", "precision", "recall", "auc", "mae", "rmse")
    } | {
        ("callbacks", n) for n in
        ("early_stopping", "reduce_lr_on_plateau", "step_decay", "exponential_decay",
         "cosine_decay", "linear_warmup", "convergence_stop", "overfitting_monitor",
         "terminate_on_nan", "model_checkpoint", "backup_and_restore", "csv_logger",
         "tensorboard")
    } | {("datasets", n) for n in ("digits", "iris", "wine", "breast_cancer", "diabetes")}
    assert expected <= names


@pytest.mark.parametrize("component", BUILTINS, ids=ids)
def test_every_builtin_has_a_summary(component):
    assert component.summary and len(component.summary) > 10


@pytest.mark.parametrize("component", [c for c in BUILTINS if c.kind in LAYER_KINDS], ids=ids)
def test_layers_run_and_round_trip(component):
    layer = create(component)
    x = sample_input(component)
    out = keras.ops.convert_to_numpy(layer(x, training=True))
    assert out.shape[0] == 2 and np.isfinite(out).all()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    if component.kind != "augmentations":  # random layers differ by design
        clone(x)
        clone.set_weights(layer.get_weights())
        np.testing.assert_allclose(keras.ops.convert_to_numpy(clone(x, training=False)),
                                   keras.ops.convert_to_numpy(layer(x, training=False)),
                                   atol=1e-6)


@pytest.mark.parametrize("component",
                         [c for c in BUILTINS if c.kind in ("losses", "initializers",
                                                            "optimizers")], ids=ids)
def test_keras_objects_round_trip(component):
    obj = create(component)
    config = obj.get_config()
    assert type(obj).from_config(config).get_config() == config


@pytest.mark.parametrize("component", [c for c in BUILTINS if c.kind == "metrics"], ids=ids)
def test_metrics_compile(component):
    metric = create(component)
    if isinstance(metric, keras.metrics.Metric):
        assert type(metric).from_config(metric.get_config()).get_config() == metric.get_config()
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", metrics=[metric])
    values = model.evaluate(np.random.rand(8, 3), np.arange(8) % 2, verbose=0,
                            return_dict=True)
    assert len(values) == 2


@pytest.mark.parametrize("component", [c for c in BUILTINS if c.kind == "callbacks"], ids=ids)
def test_callbacks_build_and_round_trip(component, tmp_path):
    params = {"run_dir": str(tmp_path)} if "run_dir" in component.valid_parameter_names else {}
    callback = component.create(**params)
    assert isinstance(callback, keras.callbacks.Callback)
    if hasattr(callback, "get_config"):
        config = callback.get_config()
        assert type(callback)(**config).get_config() == config


@pytest.mark.parametrize("component", [c for c in BUILTINS if c.kind == "datasets"], ids=ids)
def test_datasets_split_with_a_fixed_seed(component):
    data = component.create()
    again = component.create()
    total = len(data.x_train) + len(data.x_val) + len(data.x_test)
    assert len(data.x_test) == pytest.approx(0.2 * total, abs=1)
    assert len(data.x_val) == pytest.approx(0.15 * total, abs=2)
    np.testing.assert_array_equal(data.x_test, again.x_test)
    if data.task == "classification":
        full = np.bincount(np.concatenate([data.y_train, data.y_val, data.y_test]))
        test = np.bincount(data.y_test, minlength=len(full))
        np.testing.assert_allclose(test / len(data.y_test), full / total, atol=0.03)
        assert data.num_classes == len(full)


def test_digits_are_images():
    data = kk.get_component("datasets", "digits").create()
    assert data.input_shape == (8, 8, 1) and data.x_train.max() == 16.0


def test_min_max_normalisation_adapts_to_unit_range():
    layer = MinMaxNormalization()
    data = np.random.default_rng(1).uniform(-3, 7, size=(100, 4)).astype("float32")
    layer.adapt(data)
    out = keras.ops.convert_to_numpy(layer(data))
    assert out.min() == pytest.approx(0.0, abs=1e-6) and out.max() == pytest.approx(1.0, abs=1e-6)
    per_feature = MinMaxNormalization(axis=-1)
    per_feature.adapt(data)
    out = keras.ops.convert_to_numpy(per_feature(data))
    np.testing.assert_allclose(out.min(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(out.max(axis=0), 1.0, atol=1e-6)


def test_sparse_cross_entropy_with_label_smoothing_matches_categorical():
    y = np.array([0, 2, 1])
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]], dtype="float32")
    ours = SparseCategoricalCrossentropy(label_smoothing=0.1)(y, p)
    ref = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(np.eye(3)[y], p)
    assert float(ours) == pytest.approx(float(ref), rel=1e-5)
    plain = SparseCategoricalCrossentropy()(y, p)
    assert float(plain) == pytest.approx(
        float(keras.losses.SparseCategoricalCrossentropy()(y, p)), rel=1e-6)


def attach(callback):
    callback.set_model(types.SimpleNamespace(stop_training=False))
    callback.on_train_begin()
    return callback


def test_convergence_stop_threshold_and_min_delta():
    stop = attach(ConvergenceStop(threshold=0.1))
    for epoch, loss in enumerate([1.0, 0.5, 0.09]):
        stop.on_epoch_end(epoch, {"loss": loss})
    assert stop.model.stop_training and stop.stopped_epoch == 2
    assert "below threshold" in stop.reason

    stall = attach(ConvergenceStop(min_delta=0.01, patience=3))
    for epoch, loss in enumerate([1.0, 0.5, 0.499, 0.498, 0.497]):
        stall.on_epoch_end(epoch, {"loss": loss})
        if epoch < 4:
            assert not stall.model.stop_training
    assert stall.model.stop_training and stall.stopped_epoch == 4

    diverged = attach(ConvergenceStop())
    diverged.on_epoch_end(0, {"loss": float("nan")})
    assert diverged.model.stop_training and "diverged" in diverged.reason


def test_overfitting_monitor_reports_the_divergence_epoch():
    monitor = attach(OverfittingMonitor(patience=3, stop=True))
    train = [1.0 / (e + 1) for e in range(30)]
    val = [1.0 / (e + 1) + max(0.0, (e - 10) * 0.05) for e in range(30)]
    for epoch in range(30):
        monitor.on_epoch_end(epoch, {"loss": train[epoch], "val_loss": val[epoch]})
        if monitor.model.stop_training:
            break
    assert monitor.stopped_epoch is not None and monitor.stopped_epoch < 20
    assert 6 <= monitor.diverged_epoch <= 12


def test_overfitting_monitor_ignores_noise_on_a_falling_curve():
    monitor = attach(OverfittingMonitor(patience=3))
    rng = np.random.default_rng(0)
    for epoch in range(40):
        loss = 1.0 / (epoch + 1)
        monitor.on_epoch_end(epoch, {"loss": loss, "val_loss": loss * (1 + 0.2 * rng.random())})
    assert monitor.diverged_epoch is None


@pytest.mark.parametrize(("name", "params", "expected"), [
    ("step_decay", {"factor": 0.5, "step": 2}, [1.0, 1.0, 0.5, 0.5, 0.25]),
    ("exponential_decay", {"decay": 0.5}, [1.0, 0.5, 0.25, 0.125, 0.0625]),
    ("linear_warmup", {"epochs": 4}, [0.25, 0.5, 0.75, 1.0, 1.0]),
    ("cosine_decay", {"epochs": 4}, [1.0, 0.853553, 0.5, 0.146447, 0.0]),
])
def test_schedules_set_the_learning_rate_each_epoch(name, params, expected):
    schedule = kk.get_component("callbacks", name).create(**params)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="mse")
    seen = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(
        float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))))
    model.fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=5, verbose=0,
              callbacks=[schedule, record])
    np.testing.assert_allclose(seen, expected, atol=1e-5)
