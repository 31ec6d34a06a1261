"""Every benchmark runs in its --quick mode and prints one JSON document. No timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT, cli_env

BENCHMARKS = sorted(p for p in (ROOT / "benchmarks").glob("*.py") if not p.name.startswith("_"))


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.name)
def test_benchmark_quick(script, tmp_path, request):
    # tune_efficiency runs the Optuna engine of plugins/kerakit-optuna too
    site = request.getfixturevalue("plugin_site") if script.name == "tune_efficiency.py" else None
    result = subprocess.run([sys.executable, str(script), "--quick", "--json"], cwd=tmp_path,
                            env=cli_env(site), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads(result.stdout[result.stdout.index("{"):])
    assert document  # each reports its measurements and ratios
