"""Conformance checks for components: what every plugin author should run.

:func:`check_component` checks one registered component: it builds with its
defaults, runs on a tiny tensor, survives a ``get_config`` round trip, and,
for layers, saves and reloads in a fresh process with identical outputs and
exports to a SavedModel and back. :func:`check_plugin` checks every component
of a plugin with one fresh process in all, which keeps a suite fast.

Use it in a plugin's own tests, in the manner of timm's per-model tests:

    import pytest
    from kerakit.testing import check_plugin, component_names

    @pytest.fixture(scope="session")
    def report():
        return check_plugin("vision")

    @pytest.mark.parametrize("name", component_names(plugin="vision"))
    def test_conformance(name, report):
        report.assert_ok(name)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kerakit.errors import ConformanceError
from kerakit.registry.table import Component

LAYER_KINDS = ("preprocessors", "augmentations", "blocks")
TOLERANCE = 1e-5
RELOAD_SCRIPT = r"""
import json, sys
import numpy as np
import kerakit
import tensorflow as tf
cases = json.loads(open(sys.argv[1]).read())
report = {}
for case in cases:
    name, result = case["name"], {}
    x = np.load(case["input"])
    expected = np.load(case["expected"])
    try:
        model = kerakit.load(case["model"])
        got = np.asarray(model.predict(x, verbose=0))
        result["reload"] = float(np.abs(got - expected).max())
    except Exception as exc:
        result["reload_error"] = f"{type(exc).__name__}: {exc}"
    if case.get("export"):
        try:
            loaded = tf.saved_model.load(case["export"])  # keep it: it owns the variables
            served = loaded.serve(tf.constant(x))
            result["export"] = float(np.abs(np.asarray(served) - expected).max())
        except Exception as exc:
            result["export_error"] = f"{type(exc).__name__}: {exc}"
    report[name] = result
print(json.dumps(report))
"""


@dataclass
class Report:
    """Check results by component: ``{qualified name: {check: "ok" | reason}}``."""

    results: dict[str, dict[str, str]] = field(default_factory=dict)

    def failures(self) -> dict[str, dict[str, str]]:
        return {name: {c: r for c, r in checks.items() if r != "ok"}
                for name, checks in self.results.items()
                if any(r != "ok" for r in checks.values())}

    def assert_ok(self, name: str) -> None:
        """Raise :class:`ConformanceError` naming each failed check of ``name``."""
        checks = self.results.get(name)
        if checks is None:
            matches = [k for k in self.results if k.endswith(f".{name}")]
            if len(matches) != 1:
                raise ConformanceError(f"No conformance result for `{name}`. "
                                       f"Expected one of: {', '.join(sorted(self.results))}")
            checks = self.results[matches[0]]
            name = matches[0]
        bad = {c: r for c, r in checks.items() if r != "ok"}
        if bad:
            lines = "; ".join(f"{c}: {r}" for c, r in bad.items())
            raise ConformanceError(f"`{name}` failed conformance: {lines}")


def component_names(plugin: str | None = None, kind: str | None = None) -> list[str]:
    """Qualified names of the registered components, for parametrizing tests."""
    from kerakit.registry.lookup import components

    return [c.qualified_name for c in components(kind, plugin=plugin)]


def check_component(name: str, kind: str | None = None, *, params: dict[str, Any] | None = None,
                    input_shape: tuple[int, ...] | None = None,
                    fresh_process: bool = True) -> None:
    """Check one component; raise :class:`ConformanceError` on the first failed check.

    Like Keras' ``run_layer_test`` with ``init_kwargs`` and ``input_shape``,
    the caller may say how to build the component and what to feed it, so a
    component registered without ``example`` metadata (a layer with required
    arguments, say) can still be checked.

    Example:
        >>> check_component("dense_block", params={"units": 3}, input_shape=(5,),
        ...                 fresh_process=False)

    Args:
        name: Short or qualified component name.
        kind: Its kind, when the name exists in several.
        params: Constructor arguments; defaults to the component's ``example`` metadata.
        input_shape: A layer's input shape without the batch axis; defaults to
            its ``input_shape`` metadata, else ``(8, 8, 3)`` (``(6,)`` for heads).
        fresh_process: Also save, reload and export in a fresh process.

    Raises:
        ConformanceError: naming the component, the check and why it failed.
    """
    component = _find(name, kind)
    report = _check([component], fresh_process, params=params, input_shape=input_shape)
    report.assert_ok(component.qualified_name)


def check_plugin(plugin: str, *, fresh_process: bool = True) -> Report:
    """Check every component of ``plugin``, with one fresh process for all of them."""
    from kerakit.registry.lookup import components

    found = components(plugin=plugin)
    if not found:
        raise ConformanceError(f"Plugin `{plugin}` has no loaded components. Is it installed? "
                               "Run `kerakit plugins`.")
    return _check(found, fresh_process)


# -- the checks ---------------------------------------------------------------------


def _find(name: str, kind: str | None) -> Component:
    from kerakit.hookspecs import KINDS
    from kerakit.registry.discovery import current_registry

    registry = current_registry()
    kinds = [kind] if kind else [k for k in KINDS if (k, name) in registry]
    if len(kinds) != 1:
        raise ConformanceError(f"Cannot find one component `{name}`. Expected exactly one "
                               f"match. Received: kinds {kinds or 'none'}")
    return registry.get(kinds[0], name)


def _check(found: list[Component], fresh_process: bool, *, params: dict[str, Any] | None = None,
           input_shape: tuple[int, ...] | None = None) -> Report:
    report = Report()
    with tempfile.TemporaryDirectory() as tmp:
        cases = []
        for component in found:
            checks: dict[str, str] = {}
            report.results[component.qualified_name] = checks
            case = _run_in_process(component, checks, Path(tmp), params, input_shape)
            if case is not None:
                cases.append(case)
        if fresh_process and cases:
            _run_fresh_process(cases, report, Path(tmp))
    return report


def _step(checks: dict[str, str], check: str, fn: Callable[[], Any]) -> Any:
    """Run one check; record "ok" or the reason. Returns its value (True if none), or None."""
    try:
        value = fn()
    except Exception as exc:
        checks[check] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        return None
    checks[check] = "ok"
    return True if value is None else value


def _run_in_process(component: Component, checks: dict[str, str], tmp: Path,
                    given: dict[str, Any] | None = None,
                    input_shape: tuple[int, ...] | None = None) -> dict[str, Any] | None:
    params = dict(component.metadata.get("example", {}) if given is None else given)
    if "run_dir" in component.valid_parameter_names:
        params["run_dir"] = str(tmp)  # callbacks that write into the run directory
    obj = _step(checks, "builds with defaults", lambda: component.create(**params))
    if obj is None:
        return None
    kind = component.kind
    if component.metadata.get("batch_level"):
        _step(checks, "runs on a tiny batch", lambda: _run_batch_augmentation(obj))
        _step(checks, "get_config round trip", lambda: _config_round_trip(obj))
        return None
    if kind in LAYER_KINDS:
        return _check_layer(component, obj, checks, tmp, input_shape)
    runner = {"losses": _run_loss, "initializers": _run_initializer,
              "optimizers": _run_optimizer, "metrics": _run_metric,
              "callbacks": _run_callback, "datasets": _run_dataset,
              "trackers": _run_tracker}[kind]
    _step(checks, "runs on a tiny tensor", lambda: runner(obj))
    if kind == "losses" and checks["runs on a tiny tensor"] == "ok":
        _step(checks, "same value for targets shaped (n,) and (n, 1)",
              lambda: _loss_rank_broadcast(obj))
        _step(checks, "minimal where y_pred == y_true", lambda: _loss_minimal(obj))
    needs_config = kind not in ("datasets", "trackers") and not isinstance(obj, str) and (
        kind != "callbacks" or hasattr(obj, "get_config"))  # Keras' own callbacks have none
    if needs_config:
        _step(checks, "get_config round trip", lambda: _config_round_trip(obj))
    return None


def _sample(component: Component, input_shape: tuple[int, ...] | None = None) -> np.ndarray:
    shape = input_shape or component.metadata.get("input_shape")
    if shape is None:
        flat = component.metadata.get("role") == "head" or (component.kind == "preprocessors" \
            and component.metadata.get("tabular"))
        shape = (6,) if flat else (8, 8, 3)
    return np.random.default_rng(0).random((4, *shape)).astype("float32")


def _check_layer(component: Component, layer: Any, checks: dict[str, str],
                 tmp: Path, input_shape: tuple[int, ...] | None = None) -> dict[str, Any] | None:
    import keras

    x = _sample(component, input_shape)
    out = _step(checks, "runs on a tiny tensor", lambda: _finite(layer(x, training=True)))
    if out is None and input_shape is None:
        x = np.random.default_rng(0).random((4, 6)).astype("float32")  # a tabular layer
        checks.pop("runs on a tiny tensor")
        out = _step(checks, "runs on a tiny tensor", lambda: _finite(layer(x, training=True)))
        if out is None:
            return None
    if hasattr(layer, "adapt"):
        _step(checks, "adapts on data", lambda: layer.adapt(x))
    if _step(checks, "get_config round trip", lambda: _config_round_trip(layer)) is None:
        return None
    inputs = keras.Input(x.shape[1:])
    model = keras.Model(inputs, layer(inputs, training=False))
    expected = np.asarray(model.predict(x, verbose=0))
    slug = component.qualified_name.replace(".", "__")
    case = {"name": component.qualified_name, "input": str(tmp / f"{slug}_x.npy"),
            "expected": str(tmp / f"{slug}_y.npy"), "model": str(tmp / f"{slug}.keras")}
    np.save(case["input"], x)
    np.save(case["expected"], expected)
    if _step(checks, "saves", lambda: model.save(case["model"])) is None:
        return None
    if keras.backend.backend() == "tensorflow":
        export_dir = tmp / f"{slug}_export"
        if _step(checks, "exports a SavedModel", lambda: model.export(
                str(export_dir), format="tf_saved_model", verbose=False)) is not None:
            case["export"] = str(export_dir)
    return case


def _run_fresh_process(cases: list[dict[str, Any]], report: Report, tmp: Path) -> None:
    spec = tmp / "cases.json"
    spec.write_text(json.dumps(cases))
    result = subprocess.run([sys.executable, "-c", RELOAD_SCRIPT, str(spec)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "crashed"
        for case in cases:
            report.results[case["name"]]["reloads in a fresh process"] = reason
        return
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    for case in cases:
        checks, got = report.results[case["name"]], outcome.get(case["name"], {})
        checks["reloads in a fresh process"] = _verdict(got, "reload")
        if "export" in case:
            checks["SavedModel reloads"] = _verdict(got, "export")


def _verdict(got: dict[str, Any], key: str) -> str:
    if f"{key}_error" in got:
        return got[f"{key}_error"][:300]
    if got.get(key) is None:
        return "no result"
    return "ok" if got[key] <= TOLERANCE else f"outputs differ by {got[key]:.3g}"


def _finite(value: Any) -> Any:
    import keras

    array = keras.ops.convert_to_numpy(value)
    if not np.isfinite(array).all():
        raise ValueError("the output holds NaN or infinite values")
    return array


def _config_round_trip(obj: Any) -> None:
    if not hasattr(obj, "get_config"):
        raise TypeError(f"{type(obj).__name__} has no get_config(); it cannot be saved or "
                        "reloaded. Implement get_config() returning its constructor arguments")
    config = obj.get_config()
    json.dumps(config, default=str)
    clone = type(obj).from_config(config) if hasattr(type(obj), "from_config") \
        else type(obj)(**config)
    if clone.get_config() != config:
        raise ValueError("from_config(get_config()) gives a different config: "
                         f"{clone.get_config()} != {config}")


def _run_loss(loss: Any) -> None:
    y_pred = np.full((4, 3), 1 / 3, dtype="float32")
    y_true = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    try:
        value = loss(y_true, y_pred)
    except Exception:
        value = loss(np.array([0, 1, 2, 0]), y_pred)  # a sparse-label loss
    _finite(value)


def _is_sparse_loss(loss: Any) -> bool:
    """Whether a loss takes class indices (it refuses one-hot targets)."""
    y = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    try:
        loss(y, np.full((4, 3), 1 / 3, dtype="float32"))
    except Exception:
        return True
    return False


def _loss_rank_broadcast(loss: Any) -> None:
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
                a = float(np.asarray(_finite(loss(flat, y_pred))))
                b = float(np.asarray(_finite(loss(flat[:, None], y_pred))))
        except Exception:
            continue
        if np.isclose(a, b, rtol=1e-4, atol=1e-6):
            return
        found.append((a, b, y_pred.shape[1]))
    if not found:
        raise ValueError("the loss takes neither class labels against probabilities nor values "
                         "against one output, shaped (n,) or (n, 1)")
    a, b, width = found[-1]
    raise ValueError(
        f"the loss is {a:.6g} for y_true shaped (n,) but {b:.6g} for (n, 1), against y_pred "
        f"(n, {width}): y_true - y_pred broadcasts to (n, n). Reshape y_true to y_pred's shape "
        "in call(), or subclass keras.losses.LossFunctionWrapper")


def _loss_minimal(loss: Any) -> None:
    """No prediction near the target scores better than the target itself."""
    rng = np.random.default_rng(1)
    labels = np.array([0, 1, 2, 0, 1, 2])
    best = np.eye(3, dtype="float32")[labels]
    y_true = labels if _is_sparse_loss(loss) else best
    at_target = float(np.asarray(_finite(loss(y_true, np.clip(best, 1e-6, 1.0)))))
    for _ in range(8):
        near = np.clip(best + rng.normal(0, 0.05, best.shape), 1e-3, None).astype("float32")
        near /= near.sum(axis=1, keepdims=True)  # still a distribution, for cross-entropies
        value = float(np.asarray(_finite(loss(y_true, near))))
        if value < at_target - 1e-6:
            raise ValueError(f"the loss is {at_target:.6g} at y_pred == y_true but lower, "
                             f"{value:.6g}, at a prediction beside it: it does not measure "
                             "the distance to the target")


def _run_initializer(initializer: Any) -> None:
    _finite(initializer((3, 4)))


def _run_optimizer(optimizer: Any) -> None:
    import keras

    variable = keras.Variable(np.ones((2,), "float32"))
    optimizer.apply_gradients([(np.full((2,), 0.5, "float32"), variable)])
    _finite(variable.value)


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
            _finite(metric.result())
            return
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {str(exc)[:80]}")
    raise ValueError("the metric took none of binary, sparse or one-hot labels: "
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


def _run_batch_augmentation(augment: Any) -> None:
    x = np.random.default_rng(0).random((4, 8, 8, 3)).astype("float32")
    y = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    x_out, y_out = augment(x, y)
    if tuple(np.shape(x_out)) != x.shape or tuple(np.shape(y_out)) != y.shape:
        raise ValueError(f"Expected outputs shaped like the inputs {x.shape} and {y.shape}. "
                         f"Received: {np.shape(x_out)} and {np.shape(y_out)}")
    _finite(x_out)
    _finite(y_out)


def _run_dataset(data: Any) -> None:
    from kerakit.data import Dataset

    if not isinstance(data, Dataset) or not len(data.x_train) or not len(data.x_val):
        raise TypeError(f"Expected a kerakit.Dataset with train and validation splits. "
                        f"Received: {type(data).__name__}")
