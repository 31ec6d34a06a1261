"""The conformance kit over every registered component: built-ins and both plugin packages.

Each plugin is checked with one fresh process for all of its components. The
plugin packages' own test suites, which parametrize the same checks per
component, run in tests/test_plugin_suites.py.
"""

from __future__ import annotations

import keras
import pytest

import kerakit as kk
from kerakit.errors import ConformanceError
from kerakit.testing import check_component, check_plugin


@pytest.mark.parametrize("plugin", ["kerakit", "vision", "tabular"])
def test_every_component_of_the_plugin_conforms(installed_plugins, plugin):
    report = check_plugin(plugin)
    assert set(report.results) == {c.qualified_name for c in kk.components(plugin=plugin)}
    assert not report.failures(), report.failures()
    layers = [name for name, checks in report.results.items()
              if "reloads in a fresh process" in checks]
    assert layers  # the save / reload / export checks really ran
    for name in layers:
        assert report.results[name]["SavedModel reloads"] == "ok"


class NoConfig(keras.layers.Layer):
    """A layer that forgot get_config for its constructor argument."""

    def __init__(self, scale=2.0):
        super().__init__()
        self.scale = scale

    def call(self, x):
        return x * self.scale


def test_a_broken_component_says_which_check_failed_and_why():
    kk.register_component("blocks", "no_config_block", NoConfig)
    with pytest.raises(ConformanceError) as err:
        check_component("no_config_block", fresh_process=False)
    message = str(err.value)
    assert "`local.no_config_block` failed conformance" in message
    assert "get_config round trip" in message


def test_unknown_component_in_the_kit():
    with pytest.raises(ConformanceError, match="Cannot find one component `nope`"):
        check_component("nope")
