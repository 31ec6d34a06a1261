"""Overwriting deletes only what kerakit can prove it wrote: its marker, and its own names.

Each test is named after a defect it pins down: a user's folder replaced
because it held a generic name (``manifest.json``, ``search/``,
``export_manifest.json``), a killed search's directory refused, a failed
build's partial directory left behind, a killed writer's temporary files
kept, a large file read whole before an export check refused it.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import pytest
from conftest import run_cli

import kerakit as kk
from kerakit.deploy.export_files import MANIFEST, check_hashes, write_manifest
from kerakit.runs.locks import lock_path
from kerakit.runs.marker import MARKER, read_marker
from kerakit.runs.rundir import partial_dir

RECIPE = '''
import kerakit as kk

data = "iris"
model = kk.Model(name="iris_safety", inputs=(4,), blocks=[kk.use("dense_block", units=8)],
                 head=kk.use("classifier", classes=3), epochs=1)
'''


def small_model(epochs: int = 1) -> kk.Model:
    return kk.Model((4,), [kk.use("dense_block", units=8)], kk.use("classifier", classes=3),
                    epochs=epochs, batch_size=16, name="iris_safety")


def small_space() -> kk.Model:
    return small_model().replace(blocks=[kk.use("dense_block", units=kk.hp.Choice([4, 8]))])


def user_folder(path: Path) -> Path:
    """A folder of someone else's that happens to hold one of kerakit's generic names."""
    (path / "src").mkdir(parents=True)
    (path / "src" / "app.js").write_text("run()")
    (path / "index.html").write_text("<html>")
    return path


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_overwrite_leaves_a_user_folder_with_a_manifest_json(tmp_path):
    recipe = tmp_path / "recipe.py"
    recipe.write_text(RECIPE)
    webapp = user_folder(tmp_path / "webapp")
    (webapp / "manifest.json").write_text("{}")
    result = run_cli("train", str(recipe), "--epochs", "1", "--out", str(webapp),
                     "--overwrite")
    assert result.returncode == 1, result.stderr[-2000:]
    assert f"Invalid output path {str(webapp)!r}" in result.stderr
    assert "index.html, manifest.json, src/" in result.stderr
    assert "kerakit does not delete it" in result.stderr
    assert (webapp / "index.html").read_text() == "<html>"
    assert (webapp / "src" / "app.js").read_text() == "run()"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recipe.py", "webapp"]


def test_tune_overwrite_leaves_a_user_folder_with_a_search_folder(tmp_path):
    folder = user_folder(tmp_path / "mine")
    (folder / "search").mkdir()
    (folder / "best_declaration.json").write_text("{}")
    with pytest.raises(FileExistsError, match=r"not a kerakit output.*even with overwrite"):
        kk.tune(small_space(), "iris", out=folder, overwrite=True, max_trials=1)
    assert sorted(p.name for p in folder.iterdir()) == [
        "best_declaration.json", "index.html", "search", "src"]


def test_export_force_leaves_a_user_folder_with_an_export_manifest_json(tmp_path):
    site = user_folder(tmp_path / "site")
    (site / MANIFEST).write_text("{}")
    with pytest.raises(FileExistsError, match=r"export_manifest\.json, index\.html, src/"):
        kk.export(tmp_path / "no-model-needed.keras", site, force=True)  # target checked first
    assert sorted(p.name for p in site.iterdir()) == [MANIFEST, "index.html", "src"]


def test_overwrite_refuses_a_run_holding_files_kerakit_did_not_write(tmp_path):
    out = tmp_path / "run"
    kk.fit(small_model(), "iris", out=out, verbose=0)
    marker = read_marker(out)
    assert marker["kind"] == "run" and marker["format"] == 1
    assert {"model.keras", "declaration.json", "manifest.json"} <= set(marker["entries"])
    (out / "notes.txt").write_text("mine")
    (out / "plots").mkdir()
    with pytest.raises(FileExistsError, match=r"also holds notes\.txt, plots/, which kerakit "
                                              r"did not write"):
        kk.fit(small_model(), "iris", out=out, overwrite=True, verbose=0)
    assert (out / "notes.txt").read_text() == "mine" and (out / "model.keras").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_overwrite_replaces_a_killed_optuna_style_search_holding_only_its_db(tmp_path):
    directory = tmp_path / "tuning"
    with pytest.raises(kk.KerakitError, match="No trial finished within the time budget"):
        kk.tune(small_space(), "iris", out=directory, max_trials=1, time_budget=1e-6)
    assert read_marker(directory) == {"kind": "search", "format": 1}
    for entry in directory.iterdir():  # as a search killed before its engine wrote more
        if entry.name != MARKER:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    (directory / "optuna.db").write_bytes(b"SQLite format 3\0")
    result = kk.tune(small_space(), "iris", out=directory, overwrite=True, max_trials=1)
    assert result.best_score is not None and (directory / "trials.csv").is_file()
    assert read_marker(directory)["kind"] == "search"


def test_a_declaration_that_fails_to_build_leaves_no_partial_dir(tmp_path):
    flat = small_model().replace(blocks=["conv_block"])  # a 2-D convolution over 4 numbers
    with pytest.raises(kk.DeclarationError, match=r"blocks\[0\] \(conv_block\) cannot take"):
        kk.fit(flat, "iris", out=tmp_path / "run", verbose=0)
    assert not list(tmp_path.iterdir())


class Crash(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise RuntimeError("simulated kill")


class Look(keras.callbacks.Callback):
    """Records what the partial directory and its backup hold when training resumes."""

    def __init__(self, partial: Path) -> None:
        super().__init__()
        self.partial = partial
        self.seen: set[str] = set()

    def on_train_begin(self, logs=None):
        self.seen = {p.relative_to(self.partial).as_posix() for p in self.partial.rglob("*")}


def test_stale_tmp_files_of_a_killed_process_are_removed_on_resume(tmp_path):
    out, decl = tmp_path / "run", small_model(epochs=3)
    with pytest.raises(RuntimeError, match="simulated kill"):
        kk.fit(decl, "iris", out=out, verbose=0, backup_every=0, callbacks=[Crash()])
    partial, dead, alive = partial_dir(out), dead_pid(), os.getppid()
    stale = [f"backup/.tmp-{dead}-0badc0de-state.json", f"backup/.state.json.tmp-{dead}",
             f"backup/.tmp-{dead}-0badc0de-best-1.npz", f".tmp-{dead}-0badc0de-history.csv"]
    live = f"backup/.tmp-{alive}-c0ffee00-state.json"  # another process's write in flight
    for name in [*stale, live]:
        (partial / name).write_text("half")
    look = Look(partial)
    run = kk.fit(decl, "iris", out=out, verbose=0, backup_every=0, callbacks=[look])
    assert run.resumed_at_epoch == 2
    assert live in look.seen and not set(stale) & look.seen
    assert not partial.exists() and not lock_path(out).exists()


def handmade_export(directory: Path) -> Path:
    """An export's files and manifest, as the SavedModel writer leaves them (without TF)."""
    (directory / "variables").mkdir(parents=True)
    (directory / "saved_model.pb").write_bytes(b"graph")
    (directory / "variables" / "variables.index").write_bytes(b"index")
    write_manifest(directory, {"format": "saved_model",
                               "inputs": [{"name": "inputs", "shape": [None, 4],
                                           "dtype": "float32"}]})
    return directory


def refuse_reading(monkeypatch: pytest.MonkeyPatch, *paths: Path) -> None:
    """Make opening any of ``paths`` (through open, io.open or Path.read_bytes) fail the test."""
    forbidden = {p.resolve() for p in paths}
    real_open = io.open

    def guarded(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and Path(file).resolve() in forbidden:
            raise AssertionError(f"{file} was opened")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", guarded)
    monkeypatch.setattr(builtins, "open", guarded)


def test_export_check_refuses_an_unexpected_large_file_without_reading_it(tmp_path,
                                                                          monkeypatch):
    export = handmade_export(tmp_path / "export")
    assert read_marker(export)["kind"] == "export"
    assert check_hashes(export)["files"].keys() == {"saved_model.pb",
                                                    "variables/variables.index"}
    big = tmp_path / "elsewhere" / "weights.bin"
    big.parent.mkdir()
    with open(big, "wb") as f:
        f.truncate(3 * 2**30)  # 3 GiB, sparse: nothing is stored until it is read
    (export / "variables" / "weights.bin").symlink_to(big)
    refuse_reading(monkeypatch, big)
    with pytest.raises(kk.ExportError, match=r"unexpected: \['variables/weights.bin'\]"):
        check_hashes(export)


def test_export_check_refuses_a_resized_file_without_reading_it(tmp_path, monkeypatch):
    export = handmade_export(tmp_path / "export")
    (export / "saved_model.pb").write_bytes(b"a much longer graph")
    refuse_reading(monkeypatch, export / "saved_model.pb")
    with pytest.raises(kk.ExportError, match=r"altered: \['saved_model.pb'\] \(by size"):
        check_hashes(export)
    json.loads((export / MANIFEST).read_text())  # the manifest alone was read


def test_the_tuning_layout_names_the_engine_and_tracker_folders():
    from kerakit.builtins.trackers import LOG_FOLDER
    from kerakit.tuning.adapter import PROJECT
    from kerakit.tuning.directory import TUNING_LAYOUT

    assert {PROJECT, LOG_FOLDER} <= set(TUNING_LAYOUT)  # named there without importing them
