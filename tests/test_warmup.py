"""Training state created before fit: one trace of the training step, the same training."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import kerakit as kk
from kerakit.engine.warmup import build_training_state

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="the double trace it removes is TensorFlow's")


def small_cnn() -> kk.Model:
    return kk.Model(
        name="warm", inputs=(8, 8, 1), preprocess=["standardize"],
        augment=[kk.use("random_rotation", factor=0.03), kk.use("gaussian_noise", stddev=0.02)],
        blocks=[kk.use("conv_block", filters=8, convs=1), "global_avg_pool",
                kk.use("dropout", rate=0.2)],
        head=kk.use("classifier", classes=3), optimizer="adam", metrics=["accuracy"],
        epochs=3, batch_size=16, seed=0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 8, 8, 1)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0).astype("int64") + (x[:, 0, 0, 0] > 1)
    return x, y


def fit_counting_traces(x, make_inputs, warm: bool) -> tuple[int, dict[str, list[float]]]:
    """Fit a fresh model; count how often TensorFlow traced its training step."""
    keras.backend.clear_session()
    model = kk.plan(small_cnn()).build(adapt_data=x)
    traces = []
    step = model.train_step

    def counted(batch):
        traces.append(1)  # Python runs only while tracing
        return step(batch)

    model.train_step = counted
    kwargs = make_inputs()
    if warm:
        assert build_training_state(model, kwargs)
    history = model.fit(**kwargs, epochs=3, verbose=0).history
    return len(traces), history


def test_arrays_trace_once_and_train_identically(data):
    x, y = data

    def inputs():
        return {"x": x, "y": y, "validation_data": (x[:32], y[:32]), "batch_size": 16}

    cold_traces, cold = fit_counting_traces(x, inputs, warm=False)
    warm_traces, warm = fit_counting_traces(x, inputs, warm=True)
    assert (cold_traces, warm_traces) == (2, 1)
    assert warm == cold  # the probe batch leaves no trace in weights, draws or metrics


def test_shuffled_datasets_trace_once_and_keep_their_order(data):
    import tensorflow as tf

    x, y = data

    def inputs():
        pipeline = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(96, seed=3).batch(16)
        return {"x": pipeline, "validation_data": (x[:32], y[:32]), "shuffle": False}

    cold_traces, cold = fit_counting_traces(x, inputs, warm=False)
    warm_traces, warm = fit_counting_traces(x, inputs, warm=True)
    assert (cold_traces, warm_traces) == (2, 1)
    assert warm == cold


def test_kerakit_fit_builds_the_state_first(data, tmp_path, monkeypatch):
    from kerakit.engine import warmup

    calls = []
    real = warmup.build_training_state

    def spy(model, kwargs):
        calls.append(real(model, kwargs))
        return calls[-1]

    monkeypatch.setattr("kerakit.engine.plan.build_training_state", spy)
    x, y = data
    run = kk.fit(small_cnn().replace(epochs=1), (x, y), out=tmp_path / "run", verbose=0)
    assert calls == [True]
    assert len(run.history["loss"]) == 1


def test_inputs_it_cannot_probe_are_left_to_keras(data):
    keras.backend.clear_session()
    model = kk.plan(small_cnn()).build(adapt_data=data[0])

    def batches():
        yield data

    assert not build_training_state(model, {"x": batches()})
    assert not model.optimizer.built
