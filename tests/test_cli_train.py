"""`kerakit train`: the embedded default, recipes, options and errors, in fresh processes."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli, run_cli_batch

RECIPE = '''
import kerakit as kk

data = "iris"

small = kk.Model(
    name="iris_recipe", inputs=(4,), preprocess=["standardize"],
    blocks=[kk.use("dense_block", units=8)], head=kk.use("classifier", classes=3), epochs=2,
)


def wide():
    return small.replace(blocks=[kk.use("dense_block", units=32)], name="iris_wide")
'''


def test_train_embedded_default_json(tmp_path: Path):
    out = tmp_path / "run"
    result = run_cli("train", "--epochs", "2", "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads(result.stdout)  # exactly one JSON document on stdout
    assert set(document["test"]) == {"loss", "accuracy"}
    assert document["epochs_run"] == 2 and document["dir"] == str(out)
    assert "Epoch 1/2" in result.stderr  # progress went to stderr
    declaration = json.loads((out / "declaration.json").read_text())
    assert declaration["name"] == "digits_cnn"
    assert [p["name"] for p in declaration["augment"]] == [
        "random_rotation", "random_translation", "random_zoom", "gaussian_noise"]


def test_train_recipe_with_name_and_summary(tmp_path: Path):
    recipe = tmp_path / "recipe.py"
    recipe.write_text(RECIPE)
    result = run_cli("train", f"{recipe}:wide", "--out", str(tmp_path / "wide"), "--seed", "3")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test: accuracy=" in result.stdout and "best epoch:" in result.stdout
    assert f"outputs: {tmp_path / 'wide'}" in result.stdout
    declaration = json.loads((tmp_path / "wide" / "declaration.json").read_text())
    assert declaration["name"] == "iris_wide" and declaration["fit"]["seed"] == 3
    assert declaration["blocks"][0]["params"]["units"] == 32


def test_train_refuses_an_existing_run_without_overwrite(tmp_path: Path):
    recipe = tmp_path / "recipe.py"
    recipe.write_text(RECIPE)
    out = tmp_path / "run"
    first, again, replaced = run_cli_batch(
        ["train", f"{recipe}:small", "--out", str(out)],
        ["train", f"{recipe}:small", "--out", str(out)],
        ["train", f"{recipe}:small", "--out", str(out), "--overwrite", "--epochs", "1"])
    assert first.returncode == 0, first.stderr[-2000:]
    assert again.returncode == 1
    assert "already holds a run" in again.stderr and "--overwrite" in again.stderr
    assert replaced.returncode == 0, replaced.stderr[-2000:]


def test_train_errors_are_clear(tmp_path: Path):
    recipe = tmp_path / "recipe.py"
    recipe.write_text(RECIPE)
    missing, bad_name, bad_data = run_cli_batch(
        ["train", str(tmp_path / "nope.py")],
        ["train", f"{recipe}:nothing"],
        ["train", f"{recipe}:small", "--data", "digits", "--out", str(tmp_path / "x")])
    assert missing.returncode == 1 and "Recipe not found" in missing.stderr
    assert bad_name.returncode == 1 and "has no `nothing`" in bad_name.stderr
    assert bad_data.returncode == 1
    assert "Expected samples of shape (4,)" in bad_data.stderr
    assert "Traceback" not in bad_data.stderr
    assert not (tmp_path / "x").exists()
