"""Discovery of real pip-installed plugins: isolation, controls, strict mode."""

from __future__ import annotations

import warnings

import pytest

import kerakit
from kerakit.errors import AmbiguousComponentError, PluginError, PluginWarning
from kerakit.registry.discovery import load_plugins

BROKEN = {"importfail", "missing", "misspelled", "raises", "invalid", "twice", "oldapi",
          "unknownhook"}


def load_quietly(**controls):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        registry = load_plugins(reload=True, **controls)
    return registry, [w for w in caught if issubclass(w.category, PluginWarning)]


def test_good_plugin_components_appear(installed_plugins):
    registry, _ = load_quietly()
    info = registry.plugins["good"]
    assert (info.status, info.distribution, info.version) == (
        "loaded", "kerakit-fixture-good", "0.3.1")
    assert info.components == {"blocks": 1, "losses": 1}
    component = registry.get("blocks", "scale_block")
    assert component.qualified_name == "good.scale_block"
    assert component.summary == "Multiply inputs by a learned per-feature scale."
    assert registry.get("losses", "good.log_cosh").summary.startswith("Smooth L1-like")


def test_builtins_are_the_kerakit_plugin(installed_plugins):
    registry, _ = load_quietly()
    assert registry.plugins["kerakit"].status == "loaded"
    assert registry.get("optimizers", "adam").plugin == "kerakit"


def test_every_broken_plugin_is_quarantined_with_one_warning(installed_plugins):
    registry, caught = load_quietly()
    failed = {name for name, i in registry.plugins.items() if i.status == "failed"}
    assert failed == BROKEN
    assert len(caught) == 1
    text = str(caught[0].message)
    for name in BROKEN:
        assert f"plugin `{name}`" in text
    # the rest still loaded
    assert registry.plugins["good"].status == "loaded"
    assert registry.plugins["shared_a"].status == "loaded"


@pytest.mark.parametrize(
    ("plugin", "reason"),
    [
        ("importfail", "ModuleNotFoundError: No module named 'kerakit_dependency_that_is_not"),
        ("missing", "cannot import `kerakit_fixture_importfail.no_such_module`"),
        ("misspelled", "regster"),
        ("raises", "hook `kerakit_losses` raised RuntimeError: boom in kerakit_losses"),
        ("invalid", "Expected a class or factory (a callable). Received: int 42"),
        ("twice", "registered the metric `twice_metric` twice"),
        ("oldapi", "incompatible plugin API"),
        ("unknownhook", "kerakit_block"),
    ],
)
def test_quarantine_reason_names_plugin_and_error(installed_plugins, plugin, reason):
    registry, _ = load_quietly()
    info = registry.plugins[plugin]
    assert info.status == "failed"
    assert f"plugin `{plugin}`" in info.error
    assert reason in info.error
    assert info.components == {}


def test_failed_plugin_leaves_no_component_behind(installed_plugins):
    registry, _ = load_quietly()
    assert not registry.list(pattern="raises_loss")
    assert not registry.list(plugin="raises")


def test_ambiguous_short_name_across_plugins(installed_plugins):
    registry, _ = load_quietly()
    with pytest.raises(AmbiguousComponentError) as err:
        registry.get("losses", "smooth_l1")
    assert "shared_a.smooth_l1" in str(err.value) and "shared_b.smooth_l1" in str(err.value)
    assert "kerakit-fixture-shared-b 0.3.1" in str(err.value)
    assert registry.get("losses", "shared_b.smooth_l1").plugin == "shared_b"


def test_disable_autoload_env(installed_plugins, monkeypatch):
    monkeypatch.setenv("KERAKIT_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry, caught = load_quietly()
    assert not caught
    statuses = {name: i.status for name, i in registry.plugins.items()}
    assert statuses["kerakit"] == "loaded"
    assert {s for n, s in statuses.items() if n != "kerakit"} == {"disabled"}
    assert not registry.list(plugin="good")


def test_allow_list_env_and_argument(installed_plugins, monkeypatch):
    monkeypatch.setenv("KERAKIT_PLUGINS", "good, shared_a")
    registry, caught = load_quietly()
    assert not caught
    loaded = {n for n, i in registry.plugins.items() if i.status == "loaded"}
    assert loaded == {"kerakit", "good", "shared_a"}
    assert registry.get("losses", "smooth_l1").plugin == "shared_a"  # no longer ambiguous
    registry, _ = load_quietly(only=["shared_b"])
    assert registry.get("losses", "smooth_l1").plugin == "shared_b"


def test_block_list_env_and_argument(installed_plugins, monkeypatch):
    monkeypatch.setenv("KERAKIT_BLOCK_PLUGINS", "good")
    registry, _ = load_quietly()
    assert registry.plugins["good"].status == "blocked"
    assert not registry.list(plugin="good")
    monkeypatch.delenv("KERAKIT_BLOCK_PLUGINS")
    registry, caught = load_quietly(block=BROKEN)
    assert not caught
    assert registry.plugins["good"].status == "loaded"
    assert {registry.plugins[n].status for n in BROKEN} == {"blocked"}


def test_strict_mode_env_and_argument(installed_plugins, monkeypatch):
    with pytest.raises(PluginError, match="Strict mode: plugin `importfail`"):
        load_plugins(reload=True, strict=True)
    monkeypatch.setenv("KERAKIT_STRICT", "1")
    with pytest.raises(PluginError, match="Strict mode"):
        load_plugins(reload=True)
    registry = load_plugins(reload=True, only=["good"])  # strict, but nothing broken loads
    assert registry.plugins["good"].status == "loaded"


def test_loading_is_idempotent(installed_plugins):
    first, _ = load_quietly()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = load_plugins()
    assert again is first
    assert not caught
    assert kerakit.components(plugin="good") == first.list(plugin="good")
