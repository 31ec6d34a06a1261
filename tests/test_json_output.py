"""``--json``: stdout holds one document even when code writes to descriptor 1."""

from __future__ import annotations

import json

from conftest import run_cli

NOISY_RECIPE = '''
import os
import subprocess
import sys

import kerakit as kk

os.write(1, b"written to descriptor 1 by a C extension\\n")
subprocess.run([sys.executable, "-c", "print('printed by a subprocess')"], check=True)
data = "iris"
model = kk.Model(inputs=(4,), blocks=[kk.use("dense_block", units=4)],
                 head=kk.use("classifier", classes=3), epochs=1)
'''


def test_json_output_survives_writes_to_file_descriptor_one(tmp_path):
    recipe = tmp_path / "recipe.py"
    recipe.write_text(NOISY_RECIPE)
    result = run_cli("train", str(recipe), "--out", str(tmp_path / "run"), "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads(result.stdout)  # the document alone
    assert document["test"]["accuracy"] >= 0
    assert "written to descriptor 1" in result.stderr
    assert "printed by a subprocess" in result.stderr
