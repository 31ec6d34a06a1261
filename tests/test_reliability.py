"""Run, tuning and export directories under crashes, concurrency and careless overwrites.

Real processes for every kill and lock case: a training process killed with
SIGKILL mid-run, a second writer while the first one holds the directory.
Every waiting loop is bounded and stops by itself.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import wait_for

import kerakit as kk
from kerakit.deploy import export_formats, exporting
from kerakit.runs.locks import lock_path
from kerakit.runs.marker import write_marker
from kerakit.runs.rundir import partial_dir

EPOCHS = 12


def small_model(epochs: int = EPOCHS, callbacks: tuple = ()) -> kk.Model:
    return kk.Model((4,), [kk.use("dense_block", units=16)], kk.use("classifier", classes=3),
                    epochs=epochs, batch_size=16, callbacks=list(callbacks), name="iris_mlp")


# The declaration the killed process trains; the test process rebuilds the same one.
RESUMED_MODEL = dict(callbacks=(kk.use("early_stopping", patience=EPOCHS),))

TRAIN_SCRIPT = textwrap.dedent("""
    import sys, time
    import keras
    import kerakit as kk
    sys.path.insert(0, {tests!r})
    from test_reliability import small_model, RESUMED_MODEL

    class Slow(keras.callbacks.Callback):  # leaves time to look and to kill mid-run
        def on_epoch_end(self, epoch, logs=None):
            time.sleep(0.5)

    kk.fit(small_model(**RESUMED_MODEL), "iris", out=sys.argv[1], seed=0, verbose=0,
           backup_every=0, callbacks=[Slow()])
""")

HOLDER_SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from kerakit.runs.locks import hold_lock
    with hold_lock(Path(sys.argv[1]), "directory"):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
""")


class Holder:
    """Another process that holds the writer's lock of a path, as a concurrent writer would."""

    def __init__(self, target: Path, seconds: float = 60.0) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER_SCRIPT, str(target),
                                      str(seconds)], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "held"

    def __enter__(self) -> subprocess.Popen:
        return self.proc

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


def read_history(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> kk.Run:
    """One uninterrupted run: the form every resumed run must match."""
    out = tmp_path_factory.mktemp("plain") / "run"
    return kk.fit(small_model(**RESUMED_MODEL), "iris", out=out, seed=0, verbose=0)


# -- overwriting -----------------------------------------------------------------


def test_overwrite_refuses_a_folder_that_is_not_a_run(tmp_path):
    out = tmp_path / "thesis"
    (out / "sub").mkdir(parents=True)
    (out / "thesis.txt").write_text("three years of work")
    with pytest.raises(FileExistsError) as info:
        kk.fit(small_model(epochs=1), "iris", out=out, overwrite=True, verbose=0)
    message = str(info.value)
    assert "not a kerakit output" in message and "sub/, thesis.txt" in message
    assert (out / "thesis.txt").read_text() == "three years of work"
    assert (out / "sub").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis"]  # no partial, no lock


def test_overwrite_refuses_a_file_and_leaves_nothing_hidden(tmp_path):
    out = tmp_path / "notes"
    out.write_text("keep me")
    with pytest.raises(FileExistsError, match="a file of 7 bytes"):
        kk.fit(small_model(epochs=1), "iris", out=out, overwrite=True, verbose=0)
    assert out.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes"]


def test_overwrite_replaces_a_run_and_leaves_nothing_beside_it(tmp_path, finished_run):
    out = tmp_path / "run"
    shutil.copytree(finished_run.dir, out)
    with pytest.raises(FileExistsError, match="already holds a run"):
        kk.fit(small_model(epochs=2), "iris", out=out, verbose=0)
    kk.fit(small_model(epochs=2), "iris", out=out, overwrite=True, verbose=0)
    assert json.loads((out / "metrics.json").read_text())["epochs_run"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_tune_validates_workers_before_deleting(tmp_path):
    directory = tmp_path / "tuning"
    (directory / "search").mkdir(parents=True)
    (directory / "best_declaration.json").write_text("{}")
    decl = small_model(epochs=1).replace(
        blocks=[kk.use("dense_block", units=kk.hp.Choice([8, 16]))])
    with pytest.raises(ValueError, match="workers=-1"):
        kk.tune(decl, "iris", out=directory, overwrite=True, workers=-1)
    assert (directory / "best_declaration.json").read_text() == "{}"


def test_tune_overwrite_refuses_a_folder_that_is_not_a_tuning_directory(tmp_path):
    directory = tmp_path / "mine"
    directory.mkdir()
    (directory / "data.csv").write_text("a,b\n")
    decl = small_model(epochs=1).replace(
        blocks=[kk.use("dense_block", units=kk.hp.Choice([8, 16]))])
    for workers in (None, 1):
        with pytest.raises(FileExistsError, match=r"data\.csv"):
            kk.tune(decl, "iris", out=directory, overwrite=True, workers=workers,
                    max_trials=1)
        assert (directory / "data.csv").read_text() == "a,b\n"


def test_export_force_refuses_a_folder_that_is_not_an_export(tmp_path, finished_run):
    target = tmp_path / "site"
    target.mkdir()
    (target / "index.html").write_text("<html>")
    with pytest.raises(FileExistsError, match=r"index\.html"):
        kk.export(finished_run, target, force=True)
    assert (target / "index.html").read_text() == "<html>"


# -- torn backups ------------------------------------------------------------------


def _crashed_partial(out: Path, decl: kk.Model) -> Path:
    partial = partial_dir(out)
    (partial / "backup").mkdir(parents=True)
    write_marker(partial, "run")  # as kk.fit marks every partial directory, first
    (partial / "declaration.json").write_text(kk.plan(decl).declaration.to_json())
    return partial


def test_a_torn_backup_is_ignored_with_a_warning(tmp_path):
    decl = small_model(epochs=3)
    out = tmp_path / "run"
    partial = _crashed_partial(out, decl)
    torn = b"\x89HDF\r\n\x1a\n" + b"\0" * 40  # the first bytes of an HDF5 file, then nothing
    (partial / "backup" / "latest.weights.h5").write_bytes(torn)  # Keras' own backup layout
    (partial / "backup" / "epoch-2.weights.h5").write_bytes(torn)
    (partial / "backup" / "state.json").write_text(json.dumps(
        {"epoch": 2, "weights": "epoch-2.weights.h5",
         "history": {"loss": [1.0, 0.9], "val_loss": [1.0, 0.9]}}))
    with pytest.warns(RuntimeWarning, match="could not be loaded"):
        run = kk.fit(decl, "iris", out=out, verbose=0, backup_every=0)
    assert run.resumed_at_epoch is None
    assert [row["epoch"] for row in read_history(out)] == ["1", "2", "3"]


def test_a_truncated_backup_state_is_ignored_with_a_warning(tmp_path):
    decl = small_model(epochs=2)
    out = tmp_path / "run"
    partial = _crashed_partial(out, decl)
    (partial / "backup" / "state.json").write_text('{"epoch": 5, "weig')
    with pytest.warns(RuntimeWarning, match="unreadable"):
        run = kk.fit(decl, "iris", out=out, verbose=0)
    assert run.epochs_run == 2 and not partial.exists()


# -- kill -9, resume and locks -----------------------------------------------------


def test_killed_run_resumes_with_true_records_and_locks_out_a_second_writer(tmp_path,
                                                                            finished_run):
    out = tmp_path / "run"
    state = partial_dir(out) / "backup" / "state.json"
    script = TRAIN_SCRIPT.format(tests=str(Path(__file__).parent))
    proc = subprocess.Popen([sys.executable, "-c", script, str(out)], stderr=subprocess.PIPE)
    try:
        wait_for(lambda: (state.exists() and json.loads(state.read_text())["epoch"] >= 3)
                 or proc.poll() is not None, 90, "a backup of epoch 3")
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        with pytest.raises(kk.LockedError, match=f"pid {proc.pid}"):
            kk.fit(small_model(**RESUMED_MODEL), "iris", out=out, seed=0, verbose=0)
        assert proc.poll() is None, "the training process ended before it was killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stderr.close()
    backed_up = json.loads(state.read_text())
    assert not out.exists() and 3 <= backed_up["epoch"] < EPOCHS

    run = kk.fit(small_model(**RESUMED_MODEL), "iris", out=out, seed=0, verbose=0,
                 backup_every=0)

    rows = read_history(out)
    assert [int(r["epoch"]) for r in rows] == list(range(1, EPOCHS + 1))
    assert rows[0].keys() == read_history(finished_run.dir)[0].keys()
    restored = backed_up["history"]["val_loss"]
    assert [float(r["val_loss"]) for r in rows[:len(restored)]] == pytest.approx(restored)
    metrics = json.loads((out / "metrics.json").read_text())
    plain = json.loads((finished_run.dir / "metrics.json").read_text())
    assert set(metrics) - set(plain) == {"resumed_at_epoch"} and set(plain) <= set(metrics)
    assert metrics["resumed_at_epoch"] == backed_up["epoch"] == run.resumed_at_epoch
    assert metrics["epochs_run"] == EPOCHS and metrics["stopped_epoch"] is None
    val_loss = [float(r["val_loss"]) for r in rows]
    assert metrics["best_epoch"] == int(np.argmin(val_loss))  # counted over every epoch
    assert (out / "curves.png").stat().st_size > 0
    assert not partial_dir(out).exists() and not lock_path(out).exists()


def test_second_search_on_the_same_directory_is_refused(tmp_path):
    directory = tmp_path / "tuning"
    decl = small_model(epochs=1).replace(
        blocks=[kk.use("dense_block", units=kk.hp.Choice([8, 16]))])
    with Holder(directory) as other, pytest.raises(kk.LockedError, match=f"pid {other.pid}"):
        kk.tune(decl, "iris", out=directory, max_trials=1)
    assert not directory.exists()


def test_second_export_to_the_same_target_is_refused(tmp_path, finished_run):
    target = tmp_path / "export"
    with Holder(target) as other, pytest.raises(kk.LockedError, match=f"pid {other.pid}"):
        kk.export(finished_run, target)
    assert not target.exists()


# -- export temp folders -------------------------------------------------------------


def test_export_cleans_only_dead_temp_folders_and_verifies_beside_the_target(
        tmp_path, finished_run, monkeypatch):
    target = tmp_path / "export"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".export.tmp-{dead.pid}-0badc0de"
    stale.mkdir()
    with Holder(tmp_path / "elsewhere" / "run") as alive:
        busy = tmp_path / f".export.tmp-{alive.pid}-c0ffee00"
        busy.mkdir()
        seen: list[list[str]] = []
        real_run = export_formats.subprocess.run

        def spy(args, **kwargs):
            seen.append([str(a) for a in args])
            return real_run(args, **kwargs)

        monkeypatch.setattr(export_formats.subprocess, "run", spy)
        kk.export(finished_run, target)
        assert not stale.exists() and busy.is_dir()
    files = [Path(a) for a in seen[0][4:]]  # the verification's input and output files
    assert files and all(f.parent.parent == tmp_path for f in files)
    assert sorted(p.name for p in tmp_path.iterdir()) == [busy.name, "elsewhere", "export"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert exporting.check_hashes(target)["format"] == "saved_model"
