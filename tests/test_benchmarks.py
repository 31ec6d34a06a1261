"""Every benchmark runs in its --quick mode and prints one JSON document. No timing is asserted.

They run one after another in one fresh process (``conftest.run_batch``);
``tune_efficiency.py`` runs in a second one that sees the Optuna plugin.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import ROOT, run_script_files

BENCHMARKS = sorted(p for p in (ROOT / "benchmarks").glob("*.py") if not p.name.startswith("_"))
WITH_PLUGINS = {"tune_efficiency.py"}  # its third side is plugins/kerakit-optuna's engine


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory, plugin_site: Path) -> dict:
    return run_script_files(BENCHMARKS, ["--quick", "--json"], tmp_path_factory, plugin_site,
                            WITH_PLUGINS)


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.name)
def test_benchmark_quick(script: Path, outcomes: dict):
    result = outcomes[script.name]
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    document = json.loads(result.stdout)  # stdout holds the document and nothing else
    assert document  # each reports its measurements and ratios
