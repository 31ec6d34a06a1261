"""Every example runs, at a small size, as ``python EXAMPLE --quick`` would, each in its own folder.

They run one after another in one fresh process (``conftest.run_batch``),
which imports TensorFlow once for all of them; ``use_plugins.py`` runs in a
second one that sees the pip-installed plugin site.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, run_script_files

EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py"))
WITH_PLUGINS = {"use_plugins.py"}  # finds kerakit-vision in the plugin site, not in this venv


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory, plugin_site: Path) -> dict:
    return run_script_files(EXAMPLES, ["--quick"], tmp_path_factory, plugin_site, WITH_PLUGINS)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(example: Path, outcomes: dict):
    result = outcomes[example.name]
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert "test:" in result.stdout  # each prints its run summary
