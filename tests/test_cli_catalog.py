"""`kerakit plugins`, `components`, `show` and `--help`, in fresh processes."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import cli_env, run_cli, run_cli_batch, run_cli_json


def test_help_does_not_import_tensorflow_or_keras():
    code = (
        "import sys\n"
        "from kerakit.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'keras_tuner', 'sklearn')\n"
        "         if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=cli_env(), check=True).stdout
    assert "HEAVY []" in out
    assert "components" in out and "plugins" in out


def test_plugins_json_lists_every_status(plugin_site):
    result = run_cli("plugins", "--json", plugin_site=plugin_site,
                     KERAKIT_BLOCK_PLUGINS="shared_b")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}  # exactly one document
    assert set(rows["good"]) == {"name", "distribution", "version", "status", "error",
                                 "components"}
    assert rows["good"]["status"] == "loaded"
    assert rows["good"]["components"] == {"blocks": 1, "losses": 1}
    assert rows["shared_b"]["status"] == "blocked"
    assert rows["importfail"]["status"] == "failed"
    assert "kerakit_dependency_that_is_not_installed" in rows["importfail"]["error"]
    assert rows["kerakit"]["components"]["optimizers"] == 5
    assert "quarantined" in result.stderr  # the warning goes to stderr, not stdout


def test_plugins_table_shows_failures(plugin_site):
    result = run_cli("plugins", plugin_site=plugin_site)
    assert result.returncode == 0
    assert "misspelled: failed: plugin `misspelled`" in result.stdout
    assert "kerakit-fixture-good" in result.stdout


def test_plugins_disabled_by_env(plugin_site):
    rows = run_cli_json("plugins", plugin_site=plugin_site,
                        KERAKIT_DISABLE_PLUGIN_AUTOLOAD="1")
    assert {r["name"]: r["status"] for r in rows}["good"] == "disabled"


def test_strict_mode_cli_fails(plugin_site):
    result = run_cli("components", plugin_site=plugin_site, KERAKIT_STRICT="1")
    assert result.returncode == 1
    assert "Strict mode: plugin `importfail`" in result.stderr


def test_components_json_and_filters(plugin_site):
    filtered, listed = run_cli_batch(["components", "blocks", "*scale*", "--json"],
                                     ["components", "--json"], plugin_site=plugin_site)
    assert filtered.returncode == 0 and listed.returncode == 0, filtered.stderr + listed.stderr
    assert json.loads(filtered.stdout) == [{
        "name": "good.scale_block",
        "short_name": "scale_block",
        "kind": "blocks",
        "plugin": "good",
        "summary": "Multiply inputs by a learned per-feature scale.",
    }]
    names = {r["name"] for r in json.loads(listed.stdout)}
    assert {"kerakit.adam", "kerakit.conv_block", "shared_a.smooth_l1"} <= names


def test_components_unknown_kind_is_a_clear_error():
    result = run_cli("components", "blockz")
    assert result.returncode == 1
    assert "Invalid component kind. Expected one of" in result.stderr
    assert "Received: kind='blockz'" in result.stderr
    assert "Traceback" not in result.stderr


def test_show_prints_parameters_and_doc():
    result, as_json = run_cli_batch(["show", "conv_block"], ["show", "adam", "--json"])
    assert result.returncode == 0, result.stderr
    assert "kerakit.conv_block" in result.stdout
    assert "filters = 32" in result.stdout and "pool = 'max'" in result.stdout
    shown = json.loads(as_json.stdout)[0]
    assert shown["kind"] == "optimizers"
    assert {p["name"] for p in shown["parameters"]} >= {"learning_rate", "beta_1"}


def test_show_unknown_suggests():
    result = run_cli("show", "conv_blok")
    assert result.returncode == 1
    assert "Did you mean `conv_block`" in result.stderr
