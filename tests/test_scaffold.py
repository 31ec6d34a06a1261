"""`kerakit new-plugin`: the generated package pip-installs and passes its own tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import cli_env, pip_install_target, run_cli


def test_scaffold_installs_and_passes_its_tests(tmp_path: Path):
    result = run_cli("new-plugin", "demo", "--out", str(tmp_path),
                     "--kinds", "blocks,losses,preprocessors,augmentations,initializers,"
                     "metrics,optimizers,callbacks,datasets")
    assert result.returncode == 0, result.stderr
    package = tmp_path / "kerakit-demo"
    assert (package / "pyproject.toml").is_file() and (package / "README.md").is_file()
    site = tmp_path / "site"
    pip_install_target(site, package)
    listed = run_cli("components", "--json", plugin_site=site)
    names = {row["name"] for row in __import__("json").loads(listed.stdout)}
    assert {"demo.scale_block", "demo.scaled_mse", "demo.iris_small"} <= names
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "tests"], cwd=package, env=cli_env(site), capture_output=True,
                           text=True)
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert "9 passed" in tests.stdout


def test_scaffold_bad_input(tmp_path: Path):
    bad = run_cli("new-plugin", "My-Plugin", "--out", str(tmp_path))
    assert bad.returncode == 1 and "Invalid plugin name" in bad.stderr
    assert "Received: 'My-Plugin'" in bad.stderr
    kinds = run_cli("new-plugin", "ok", "--out", str(tmp_path), "--kinds", "blocks,widgets")
    assert kinds.returncode == 1 and "Received: widgets" in kinds.stderr
    assert run_cli("new-plugin", "ok", "--out", str(tmp_path)).returncode == 0
    again = run_cli("new-plugin", "ok", "--out", str(tmp_path))
    assert again.returncode == 1 and "already exists" in again.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kerakit-ok"]
