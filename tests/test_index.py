"""The component index: plugins are imported only when one of their components is used.

The ``kerakit-fixture-lazy`` package (``tests/plugins/``) ships two plugins:
``heavy``, which imports a large module at its top, and ``late``, which
imports a separate module that a test hides to make it break at import time.
Each test pip-installs what it needs into its own site and keeps its own index.
"""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from conftest import ROOT, cli_env, pip_install_target, run_cli

from kerakit.registry import discovery
from kerakit.registry.index import INDEX_FILE, ComponentIndex, _decode, _encode

FIXTURE = ROOT / "tests" / "plugins" / "kerakit-fixture-lazy"
HEAVY_MODULES = ("kerakit_fixture_lazy.heavy", "kerakit_fixture_lazy.ballast")


@pytest.fixture(scope="module")
def lazy_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The fixture plugins installed in a site of their own, and an index built by a first run.

    The first run is ``kerakit components --json`` with a plugin that prints on
    import: its stdout must still be one JSON document.
    """
    root = tmp_path_factory.mktemp("lazy")
    site, cache = root / "site", root / "cache"
    pip_install_target(site, FIXTURE)
    first = run_cli("components", "--json", plugin_site=site, KERAKIT_CACHE_DIR=str(cache),
                    KERAKIT_FIXTURE_LAZY_PRINT="1")
    assert first.returncode == 0, first.stderr
    names = {c["name"] for c in json.loads(first.stdout)}
    assert {"heavy.heavy_block", "late.late_block"} <= names
    assert "heavy plugin imported" in first.stderr  # imported once, to build the index
    assert (cache / INDEX_FILE).is_file()
    return site, cache


def run_child(code: str, site: Path, cache: Path) -> dict:
    """Run ``code`` in a fresh process seeing only ``site``; it prints one JSON line last."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
        env=cli_env(site, KERAKIT_CACHE_DIR=str(cache), KERAKIT_FIXTURE_LAZY_PRINT="1"))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


LISTING_AND_UNRELATED_BUILD = """
import contextlib, io, json, sys
import numpy as np
import kerakit as kk
from kerakit.cli import main
from kerakit.errors import DeclarationError, InvalidParameterError

heavy = lambda: [m for m in HEAVY_MODULES if m in sys.modules]
out = {}
buffer = io.StringIO()
with contextlib.redirect_stdout(buffer):
    out["components_rc"] = main(["components", "--json"])
    out["show_rc"] = main(["show", "heavy.heavy_block", "--json"])
    out["plugins_rc"] = main(["plugins", "--json"])
out["after_listing"] = heavy()
component = kk.get_component("blocks", "heavy_block")
out["facts"] = [component.metadata["input_shape"], [p.name for p in component.parameters],
                component.doc, component.version]
try:
    kk.plan(kk.Model((6,), [kk.use("heavy_block", unitz=3)], kk.use("regressor")))
except (DeclarationError, InvalidParameterError) as exc:
    out["typo"] = str(exc)
model = kk.build(kk.Model((6,), ["dense_block"], kk.use("regressor")))
model.fit(np.zeros((16, 6)), np.zeros((16, 1)), epochs=1, verbose=0)
out["after_unrelated_build"] = heavy()
model = kk.build(kk.Model((6,), [kk.use("heavy_block", units=5)], kk.use("regressor")))
out["after_heavy_build"] = heavy()
out["heavy_layer"] = type(model.layers[1]).__name__
print(json.dumps(out))
""".replace("HEAVY_MODULES", repr(HEAVY_MODULES))


def test_listing_and_unrelated_builds_do_not_import_a_heavy_plugin(lazy_site):
    out = run_child(LISTING_AND_UNRELATED_BUILD, *lazy_site)
    assert (out["components_rc"], out["show_rc"], out["plugins_rc"]) == (0, 0, 0)
    assert out["after_listing"] == []
    assert out["facts"] == [[6], ["units"], "A dense layer from the heavy plugin.", "0.1.0"]
    assert "Unknown parameter `unitz`" in out["typo"] and "`units`" in out["typo"]
    assert out["after_unrelated_build"] == []
    assert out["after_heavy_build"] == list(HEAVY_MODULES)  # used: imported once, then
    assert out["heavy_layer"] == "HeavyDense"


BREAKS_AT_FIRST_USE = """
import contextlib, io, json, sys, warnings
sys.modules["kerakit_fixture_lazy_dep"] = None  # the late plugin's dependency is gone
import kerakit as kk
from kerakit.cli import main
from kerakit.errors import PluginError, PluginWarning

out = {}
registry = kk.load_plugins()
out["status_at_load"] = registry.plugins["late"].status
declaration = kk.Model((6,), ["late_block"], kk.use("regressor"))
kk.plan(declaration)  # names, parameters and metadata come from the index
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        kk.build(declaration)
    except PluginError as exc:
        out["build_error"] = str(exc)
out["warnings"] = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
info = registry.plugins["late"]
out["status_after_use"], out["info_error"], out["counts"] = info.status, info.error, info.components
try:
    kk.plan(declaration)
except PluginError as exc:
    out["second_use"] = str(exc)
kk.build(kk.Model((6,), ["heavy_block"], kk.use("regressor")))  # the others still work
buffer = io.StringIO()
with contextlib.redirect_stdout(buffer), warnings.catch_warnings():
    warnings.simplefilter("ignore")
    out["check_rc"] = main(["plugins", "--check", "--json"])
out["check_rows"] = {r["name"]: r["status"] for r in json.loads(buffer.getvalue())}
try:
    kk.load_plugins(reload=True, strict=True)
    out["strict"] = None
except PluginError as exc:
    out["strict"] = str(exc)
print(json.dumps(out))
"""


def test_plugin_breaking_at_first_use_is_quarantined_then_and_strict_fails_at_load(lazy_site):
    out = run_child(BREAKS_AT_FIRST_USE, *lazy_site)
    assert out["status_at_load"] == "loaded"  # not imported yet: nothing to fail
    original = "ModuleNotFoundError: import of kerakit_fixture_lazy_dep halted"
    for key in ("build_error", "info_error", "second_use"):
        assert "plugin `late` (kerakit-fixture-lazy 0.1.0)" in out[key], key
        assert original in out[key], key
    assert "late.late_block" in out["build_error"]
    assert len(out["warnings"]) == 1 and "quarantined" in out["warnings"][0]
    assert "plugin `late`" in out["warnings"][0]
    assert (out["status_after_use"], out["counts"]) == ("failed", {})
    assert out["check_rc"] == 1
    assert out["check_rows"]["late"] == "failed" and out["check_rows"]["heavy"] == "loaded"
    assert out["strict"].startswith("Strict mode: plugin `late`")
    assert original in out["strict"]


def _entries(cache: Path) -> list[dict]:
    return list(json.loads((cache / INDEX_FILE).read_text())["plugins"].values())


def _load(site: Path, forget_modules: bool = True):
    """Load plugins in this process; optionally forget the fixture's modules first."""
    if forget_modules:
        for name in [m for m in sys.modules if m.startswith("kerakit_fixture_lazy")]:
            del sys.modules[name]
    importlib.invalidate_caches()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # plugins the developer's environment may hold
        registry = discovery.load_plugins(reload=True)
    return registry, [m for m in HEAVY_MODULES if m in sys.modules]


def test_index_is_rebuilt_after_a_version_bump_and_after_an_uninstall(
        tmp_path, monkeypatch):
    project, site, cache = tmp_path / "project", tmp_path / "site", tmp_path / "cache"
    shutil.copytree(FIXTURE, project, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    pip_install_target(site, project)
    monkeypatch.setenv("KERAKIT_CACHE_DIR", str(cache))
    for var in ("KERAKIT_PLUGINS", "KERAKIT_BLOCK_PLUGINS", "KERAKIT_STRICT",
                "KERAKIT_DISABLE_PLUGIN_AUTOLOAD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.syspath_prepend(str(site))
    try:
        cache.mkdir()
        (cache / INDEX_FILE).write_text("{ torn")  # a damaged index is no index
        registry, imported = _load(site)
        assert imported == list(HEAVY_MODULES)  # first run: imported to build the index
        assert registry.get("blocks", "heavy_block").version == "0.1.0"
        versions = {e["plugin"]: e["version"] for e in _entries(cache)}
        assert versions["heavy"] == versions["late"] == "0.1.0"

        registry, imported = _load(site)
        assert imported == []  # second run: from the index
        assert registry.get("blocks", "heavy_block").version == "0.1.0"

        shutil.rmtree(site / "kerakit_fixture_lazy-0.1.0.dist-info")  # as pip install -U does
        pyproject = project / "pyproject.toml"
        pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"',
                                                           'version = "0.2.0"'))
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--no-build-isolation", "--disable-pip-version-check", "--upgrade",
                        "--target", str(site), str(project)], check=True)
        registry, imported = _load(site)
        assert imported == list(HEAVY_MODULES)  # the version changed: the index was not trusted
        assert registry.get("blocks", "heavy_block").version == "0.2.0"
        entries = _entries(cache)
        assert sorted(e["version"] for e in entries if e["plugin"] in ("heavy", "late")) == [
            "0.2.0", "0.2.0"]  # the 0.1.0 entries were pruned

        for path in site.iterdir():
            if path.name.startswith("kerakit_fixture_lazy"):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        registry, imported = _load(site)
        assert "heavy" not in registry.plugins and not registry.list(plugin="late")
        assert imported == []
        assert registry.plugins["kerakit"].status == "loaded"
        assert not [e for e in _entries(cache) if e["plugin"] in ("heavy", "late")]
    finally:
        monkeypatch.undo()
        _load(site, forget_modules=False)


def test_index_values_round_trip_and_unwritable_cache_is_no_error(tmp_path):
    value = {"input_shape": (6,), "sizes": [1, (2, 3)], "scale": float("inf"), "name": None}
    assert _decode(json.loads(json.dumps(_encode(value, strict=True)))) == value
    blocker = tmp_path / "file"
    blocker.write_text("")
    index = ComponentIndex.open(blocker)  # a "directory" that is a file
    index.changed = True
    index.save()  # nothing written, nothing raised
    assert not (blocker / INDEX_FILE).exists()
