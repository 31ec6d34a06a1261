"""Running the conformance checks over components: in this process, then in a fresh one.

:func:`run_checks` creates each component, runs the checks of its kind
(:mod:`kerakit.authoring.checks`) and, for layers, saves each one; a single
fresh process then reloads every saved layer and its SavedModel, so a suite
imports TensorFlow once more in all, not once per component. The outcome is a
:class:`Report`. :mod:`kerakit.testing` is the public face of this module.
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

from kerakit.authoring.checks import (
    RUNNERS,
    config_round_trip,
    finite,
    loss_minimal,
    loss_rank_broadcast,
    run_batch_augmentation,
)
from kerakit.errors import ConformanceError
from kerakit.registry.table import Component

__all__ = ["LAYER_KINDS", "TOLERANCE", "Report", "find_component", "run_checks"]

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


def find_component(name: str, kind: str | None) -> Component:
    """The one registered component called ``name`` (of ``kind``, if given).

    Raises:
        ConformanceError: if no kind, or more than one, has such a component.
    """
    from kerakit.hookspecs import KINDS
    from kerakit.registry.discovery import current_registry

    registry = current_registry()
    kinds = [kind] if kind else [k for k in KINDS if (k, name) in registry]
    if len(kinds) != 1:
        raise ConformanceError(f"Cannot find one component `{name}`. Expected exactly one "
                               f"match. Received: kinds {kinds or 'none'}")
    return registry.get(kinds[0], name)


def run_checks(found: list[Component], fresh_process: bool, *,
               params: dict[str, Any] | None = None,
               input_shape: tuple[int, ...] | None = None) -> Report:
    """Check ``found``; save, reload and export the layers in one fresh process if asked."""
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
        _step(checks, "runs on a tiny batch", lambda: run_batch_augmentation(obj))
        _step(checks, "get_config round trip", lambda: config_round_trip(obj))
        return None
    if kind in LAYER_KINDS:
        return _check_layer(component, obj, checks, tmp, input_shape)
    runner = RUNNERS[kind]
    _step(checks, "runs on a tiny tensor", lambda: runner(obj))
    if kind == "losses" and checks["runs on a tiny tensor"] == "ok":
        _step(checks, "same value for targets shaped (n,) and (n, 1)",
              lambda: loss_rank_broadcast(obj))
        _step(checks, "minimal where y_pred == y_true", lambda: loss_minimal(obj))
    needs_config = kind not in ("datasets", "trackers") and not isinstance(obj, str) and (
        kind != "callbacks" or hasattr(obj, "get_config"))  # Keras' own callbacks have none
    if needs_config:
        _step(checks, "get_config round trip", lambda: config_round_trip(obj))
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
    out = _step(checks, "runs on a tiny tensor", lambda: finite(layer(x, training=True)))
    if out is None and input_shape is None:
        x = np.random.default_rng(0).random((4, 6)).astype("float32")  # a tabular layer
        checks.pop("runs on a tiny tensor")
        out = _step(checks, "runs on a tiny tensor", lambda: finite(layer(x, training=True)))
        if out is None:
            return None
    if hasattr(layer, "adapt"):
        _step(checks, "adapts on data", lambda: layer.adapt(x))
    if _step(checks, "get_config round trip", lambda: config_round_trip(layer)) is None:
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
