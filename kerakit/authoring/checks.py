"""What each conformance check does to one component, by kind.

Each function takes the created component and raises on a failure, with a
message that says what was expected; :mod:`kerakit.authoring.conformance`
records it against the check's name. A failure here is the component's, so
it is a :class:`~kerakit.errors.ConformanceError`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from kerakit.errors import ConformanceError

__all__ = ["RUNNERS", "config_round_trip", "finite", "loss_minimal", "loss_rank_broadcast",
           "run_batch_augmentation"]


def finite(value: Any) -> Any:
    """``value`` as a NumPy array, if every entry is finite."""
    import keras

    array = keras.ops.convert_to_numpy(value)
    if not np.isfinite(array).all():
        raise ConformanceError("the output holds NaN or infinite values")
    return array


def config_round_trip(obj: Any) -> None:
    """``from_config(get_config())`` gives back the same config, written as JSON."""
    if not hasattr(obj, "get_config"):
        raise TypeError(f"{type(obj).__name__} has no get_config(); it cannot be saved or "
                        "reloaded. Implement get_config() returning its constructor arguments")
    config = obj.get_config()
    json.dumps(config, default=str)
    clone = type(obj).from_config(config) if hasattr(type(obj), "from_config") \
        else type(obj)(**config)
    if clone.get_config() != config:
        raise ConformanceError("from_config(get_config()) gives a different config: "
                              f"{clone.get_config()} != {config}")


def _run_loss(loss: Any) -> None:
    y_pred = np.full((4, 3), 1 / 3, dtype="float32")
    y_true = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    try:
        value = loss(y_true, y_pred)
    except Exception:
        value = loss(np.array([0, 1, 2, 0]), y_pred)  # a sparse-label loss
    finite(value)


def _is_sparse_loss(loss: Any) -> bool:
    """Whether a loss takes class indices (it refuses one-hot targets)."""
    y = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    try:
        loss(y, np.full((4, 3), 1 / 3, dtype="float32"))
    except Exception:
        return True
    return False


def loss_rank_broadcast(loss: Any) -> None:
    """Targets of shape (n,) and (n, 1) give one value: no silent (n, n) broadcast.

    Two forms are tried: class labels against 3 class probabilities, and
    values against one output. A form the loss refuses does not count; the
    loss passes when a form it takes gives one value for both shapes.
    """
    import warnings

    rng = np.random.default_rng(0)
    forms = [(np.array([0, 1, 2, 0, 1, 2]), rng.dirichlet(np.ones(3), size=6)),
             (rng.uniform(0.1, 0.9, size=6), rng.uniform(0.1, 0.9, size=(6, 1)))]
    found = []
    for flat, y_pred in forms:
        y_pred = y_pred.astype("float32")
        flat = flat.astype(y_pred.dtype) if flat.dtype.kind == "f" else flat
        try:
            with warnings.catch_warnings():  # categorical cross-entropy warns about one column
                warnings.simplefilter("ignore")
                a = float(np.asarray(finite(loss(flat, y_pred))))
                b = float(np.asarray(finite(loss(flat[:, None], y_pred))))
        except Exception:
            continue
        if np.isclose(a, b, rtol=1e-4, atol=1e-6):
            return
        found.append((a, b, y_pred.shape[1]))
    if not found:
        raise ConformanceError("the loss takes neither class labels against probabilities nor "
                               "values against one output, shaped (n,) or (n, 1)")
    a, b, width = found[-1]
    raise ConformanceError(
        f"the loss is {a:.6g} for y_true shaped (n,) but {b:.6g} for (n, 1), against y_pred "
        f"(n, {width}): y_true - y_pred broadcasts to (n, n). Reshape y_true to y_pred's shape "
        "in call(), or subclass keras.losses.LossFunctionWrapper")


def loss_minimal(loss: Any) -> None:
    """No prediction near the target scores better than the target itself."""
    rng = np.random.default_rng(1)
    labels = np.array([0, 1, 2, 0, 1, 2])
    best = np.eye(3, dtype="float32")[labels]
    y_true = labels if _is_sparse_loss(loss) else best
    at_target = float(np.asarray(finite(loss(y_true, np.clip(best, 1e-6, 1.0)))))
    for _ in range(8):
        near = np.clip(best + rng.normal(0, 0.05, best.shape), 1e-3, None).astype("float32")
        near /= near.sum(axis=1, keepdims=True)  # still a distribution, for cross-entropies
        value = float(np.asarray(finite(loss(y_true, near))))
        if value < at_target - 1e-6:
            raise ConformanceError(f"the loss is {at_target:.6g} at y_pred == y_true but lower, "
                                  f"{value:.6g}, at a prediction beside it: it does not measure "
                                  "the distance to the target")


def _run_initializer(initializer: Any) -> None:
    finite(initializer((3, 4)))


def _run_optimizer(optimizer: Any) -> None:
    import keras

    variable = keras.Variable(np.ones((2,), "float32"))
    optimizer.apply_gradients([(np.full((2,), 0.5, "float32"), variable)])
    finite(variable.value)


def _run_metric(metric: Any) -> None:
    import keras

    if isinstance(metric, str):
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
        model.compile(loss="sparse_categorical_crossentropy", metrics=[metric])
        model.evaluate(np.zeros((4, 3)), np.zeros(4), verbose=0)
        return
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.5, 0.3, 0.2]],
                     dtype="float32")
    label_formats = (  # binary, sparse and one-hot labels: a metric must take one of them
        (np.array([[0.0], [1.0], [1.0], [0.0]], "float32"), probs[:, 1:2]),
        (np.array([0, 1, 2, 0], "int32"), probs),
        (np.eye(3, dtype="float32")[[0, 1, 2, 0]], probs),
    )
    errors = []
    for y_true, y_pred in label_formats:
        try:
            metric.reset_state()
            metric.update_state(y_true, y_pred)
            finite(metric.result())
            return
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {str(exc)[:80]}")
    raise ConformanceError("the metric took none of binary, sparse or one-hot labels: "
                          + " | ".join(errors))


def _run_callback(callback: Any) -> None:
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.zeros((8, 3)), np.zeros((8, 1)), validation_data=(np.zeros((4, 3)),
              np.zeros((4, 1))), epochs=1, verbose=0, callbacks=[callback])


def _run_tracker(tracker: Any) -> None:
    """A whole run's events (start, two epochs, end), written under a scratch directory."""
    from kerakit.base import RunOutcome, TrackedRun

    with tempfile.TemporaryDirectory() as tmp:
        run = TrackedRun("conformance", "conformance", "train", run_dir=Path(tmp) / "run",
                         hyperparameters={"blocks.0.units": 8}, data={"name": "zeros"})
        def call(method: str, *args: Any) -> None:
            getattr(tracker, method, lambda *a: None)(*args)  # every method is optional

        call("start_run", run)
        for epoch in range(2):
            call("log_epoch", run, epoch, {"loss": 1.0 / (epoch + 1)})
        call("end_run", run, RunOutcome(metrics={"loss": 0.5}))


def run_batch_augmentation(augment: Any) -> None:
    """A batch-level augmentation keeps the shapes of its images and labels."""
    x = np.random.default_rng(0).random((4, 8, 8, 3)).astype("float32")
    y = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    x_out, y_out = augment(x, y)
    if tuple(np.shape(x_out)) != x.shape or tuple(np.shape(y_out)) != y.shape:
        raise ConformanceError(f"Expected outputs shaped like the inputs {x.shape} and {y.shape}. "
                              f"Received: {np.shape(x_out)} and {np.shape(y_out)}")
    finite(x_out)
    finite(y_out)


def _run_dataset(data: Any) -> None:
    from kerakit.data import Dataset

    if not isinstance(data, Dataset) or not len(data.x_train) or not len(data.x_val):
        raise TypeError(f"Expected a kerakit.Dataset with train and validation splits. "
                        f"Received: {type(data).__name__}")


#: component kind -> the check that runs one on a tiny input (layers are checked apart)
RUNNERS = {"losses": _run_loss, "initializers": _run_initializer, "optimizers": _run_optimizer,
           "metrics": _run_metric, "callbacks": _run_callback, "datasets": _run_dataset,
           "trackers": _run_tracker}
