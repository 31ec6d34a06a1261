"""Conformance checks for components: what every plugin author should run.

:func:`check_component` checks one registered component: it builds with its
defaults, runs on a tiny tensor, survives a ``get_config`` round trip, and,
for layers, saves and reloads in a fresh process with identical outputs and
exports to a SavedModel and back. :func:`check_plugin` checks every component
of a plugin with one fresh process in all, which keeps a suite fast.

In a plugin's own tests, one line gives one test per component, in the manner
of scikit-learn's ``parametrize_with_checks``:

    from kerakit.testing import conformance_test

    test_conformance = conformance_test("vision")

The checks themselves are in :mod:`kerakit.authoring.checks`, and running them
in :mod:`kerakit.authoring.conformance`; this module is their public face.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kerakit.authoring.conformance import (
    LAYER_KINDS,
    TOLERANCE,
    Report,
    find_component,
    run_checks,
)
from kerakit.errors import ConformanceError

__all__ = ["LAYER_KINDS", "TOLERANCE", "Report", "check_component", "check_plugin",
           "component_names", "conformance_test"]


def component_names(plugin: str | None = None, kind: str | None = None) -> list[str]:
    """Qualified names of the registered components, for parametrizing tests.

    Example:
        >>> "kerakit.conv_block" in component_names(plugin="kerakit", kind="blocks")
        True
    """
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
    component = find_component(name, kind)
    report = run_checks([component], fresh_process, params=params, input_shape=input_shape)
    report.assert_ok(component.qualified_name)


def check_plugin(plugin: str, *, fresh_process: bool = True) -> Report:
    """Check every component of ``plugin``, with one fresh process for all of them.

    Example:
        >>> report = check_plugin("vision")  # doctest: +SKIP
        >>> report.failures()  # doctest: +SKIP
        {}

    Args:
        plugin: The plugin's name, as ``kerakit plugins`` lists it.
        fresh_process: Also save, reload and export the layers in a fresh process.

    Returns:
        A :class:`Report` with the outcome of every check of every component.

    Raises:
        ConformanceError: if the plugin has no loaded components.
    """
    from kerakit.registry.lookup import components

    found = components(plugin=plugin)
    if not found:
        raise ConformanceError(f"Plugin `{plugin}` has no loaded components. Is it installed? "
                               "Run `kerakit plugins`.")
    return run_checks(found, fresh_process)


def conformance_test(plugin: str, *, fresh_process: bool = True) -> Callable[[str], None]:
    """A pytest test, parametrized with every component of ``plugin``: one line in a suite.

    The plugin is checked once, at the first component's test, with one fresh
    process for all of them (as :func:`check_plugin`); each test then reports
    its own component's failed checks.

    Example:
        >>> test_conformance = conformance_test("vision")  # doctest: +SKIP

    Args:
        plugin: The plugin's name, as ``kerakit plugins`` lists it.
        fresh_process: Also save, reload and export the layers in a fresh process.

    Returns:
        A test function; assign it to a ``test_*`` name in a test module.
    """
    import pytest

    reports: list[Report] = []  # filled by the first test that runs

    @pytest.mark.parametrize("component", component_names(plugin=plugin))
    def test_conformance(component: str) -> None:
        if not reports:
            reports.append(check_plugin(plugin, fresh_process=fresh_process))
        reports[0].assert_ok(component)

    test_conformance.__doc__ = f"Every component of the plugin `{plugin}` passes conformance."
    return test_conformance
