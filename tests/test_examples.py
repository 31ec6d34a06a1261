"""Every example runs, at a small size, in a fresh process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, cli_env

EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(example: Path, tmp_path: Path, plugin_site: Path):
    # kerakit-vision is pip-installed in the plugin site, so use_plugins.py finds it there
    # instead of installing it into the test environment.
    env = cli_env(plugin_site if example.name == "use_plugins.py" else None)
    result = subprocess.run([sys.executable, str(example), "--quick"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "test:" in result.stdout  # each prints its run summary
