"""Experiment tracking: resolving trackers, a broken or stalled tracker, resuming, TensorBoard
HParams, `kerakit runs`.

The MLflow plugin's own suite (a 3-trial search and an exported run read back
from a real local store) runs in tests/test_plugin_suites.py, against the
pip-installed package.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
from conftest import ROOT, cli_env, run_cli

import kerakit as kk
from kerakit import hp
from kerakit.base import Tracker
from kerakit.errors import ComponentNotFoundError, DeclarationError, TrackerWarning
from kerakit.runs.tracking import Tracking, tracker_names


def small(units: int | hp.Choice = 8, **fields) -> kk.Model:
    return kk.Model((4,), [kk.use("dense_block", units=units)], kk.use("classifier", classes=3),
                    epochs=fields.pop("epochs", 2), **fields)


# -- which trackers -------------------------------------------------------------------


def test_trackers_come_from_the_call_the_declaration_and_the_environment(monkeypatch):
    monkeypatch.setenv("KERAKIT_TRACK", "tensorboard, env_one")
    decl = small(track=["declared", "mlflow"])
    assert tracker_names(["mlflow"], decl) == ["mlflow", "declared", "tensorboard", "env_one"]
    assert tracker_names("mlflow") == ["mlflow", "tensorboard", "env_one"]
    with pytest.raises(ValueError, match=r"Invalid tracker name.*Received: track=''"):
        tracker_names(["mlflow", ""])


def test_the_declaration_checks_and_keeps_its_trackers():
    with pytest.raises(DeclarationError, match=r"Invalid `track`.*Received: track='mlflow'"):
        small(track="mlflow")
    decl = small(track=["mlflow"])
    again = kk.Model.from_json(decl.to_json())
    assert list(again.track) == ["mlflow"] and again == decl
    assert "track=['mlflow']" in repr(decl)


def test_an_unknown_tracker_fails_before_anything_is_written(tmp_path):
    with pytest.raises(ComponentNotFoundError, match="nope"):
        kk.fit(small(), "iris", out=tmp_path / "run", track=["nope"], verbose=0)
    assert not (tmp_path / "run").exists()
    assert not Tracking.open([]).active


# -- a broken tracker -----------------------------------------------------------------


def test_a_broken_tracker_warns_once_and_training_goes_on(installed_plugins, tmp_path,
                                                          monkeypatch):
    monkeypatch.setenv("KERAKIT_TRACK", "broken")  # the fixture plugin's tracker, by environment
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = kk.fit(small(epochs=3), "iris", out=tmp_path / "runs" / "a", verbose=0,
                     track=["tensorboard"])
    tracker_warnings = [w for w in caught if issubclass(w.category, TrackerWarning)]
    assert len(tracker_warnings) == 1, [str(w.message) for w in tracker_warnings]
    message = str(tracker_warnings[0].message)
    assert "`brokentracker.broken` failed in log_epoch" in message
    assert "tracking server unreachable" in message and "the run goes on" in message
    assert run.epochs_run == 3 and set(run.metrics) == {"accuracy", "loss"}
    assert (run.dir / "model.keras").exists()
    tracking, tracked = run.tracking
    assert [name for name, _ in tracking.trackers] == ["kerakit.tensorboard"]
    assert set(tracking.failed) == {"brokentracker.broken"}
    # the other tracker saw every epoch
    scalars = read_events(tmp_path / "runs" / "tensorboard" / "a")["scalars"]
    assert [step for step, _ in scalars["val_loss"]] == [0, 1, 2]
    assert tracked.data["name"] == "iris" and len(tracked.data["fingerprint"]) == 16


# -- trackers never block training --------------------------------------------------


class Stalled(Tracker):
    """A tracker whose backend never answers (for 30 s, so a broken test still ends)."""

    release = threading.Event()

    def start_run(self, run):
        self.release.wait(30)


def test_a_stalled_tracker_does_not_stall_training(tmp_path, monkeypatch):
    kk.register_component("trackers", "stalled", Stalled)
    Stalled.release.clear()
    monkeypatch.setenv("KERAKIT_TRACK_TIMEOUT", "1")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            started = time.monotonic()
            run = kk.fit(small(epochs=3), "iris", out=tmp_path / "runs" / "a", verbose=0,
                         track=["stalled", "tensorboard"])
            seconds = time.monotonic() - started
    finally:
        Stalled.release.set()
    assert seconds < 20, seconds  # before: 30 s in start_run, on the training thread
    assert (run.dir / "metrics.json").is_file() and run.epochs_run == 3
    [warning] = [str(w.message) for w in caught if issubclass(w.category, TrackerWarning)]
    assert "`local.stalled` failed in start_run" in warning and "TimeoutError" in warning
    scalars = read_events(tmp_path / "runs" / "tensorboard" / "a")["scalars"]
    assert [step for step, _ in scalars["val_loss"]] == [0, 1, 2]  # the other one went on


class Recorder(Tracker):
    """Records every run id and epoch it is told about, across instances."""

    seen: list[tuple[str, str, int | None]] = []

    def start_run(self, run):
        self.seen.append(("start", run.id, None))

    def log_epoch(self, run, epoch, metrics):
        self.seen.append(("epoch", run.id, epoch))


def test_a_resumed_run_keeps_its_tracked_run_id(tmp_path):
    import keras

    kk.register_component("trackers", "recorder", Recorder)
    Recorder.seen.clear()

    class Crash(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 2:  # after the backup of epoch 2, before the trackers hear of it
                raise RuntimeError("the process died")

    with pytest.raises(RuntimeError, match="died"):
        kk.fit(small(epochs=5), "iris", out=tmp_path / "run", verbose=0, track=["recorder"],
               backup_every=0, callbacks=[Crash()])
    crashed = list(Recorder.seen)
    Recorder.seen.clear()
    run = kk.fit(small(epochs=5), "iris", out=tmp_path / "run", verbose=0, track=["recorder"])
    assert run.resumed_at_epoch == 3
    [(_, first_id, _)] = [e for e in crashed if e[0] == "start"]
    assert [e for e in crashed if e[0] == "epoch"] == [("epoch", first_id, 0),
                                                       ("epoch", first_id, 1)]
    assert Recorder.seen == [("start", first_id, None), ("epoch", first_id, 3),
                             ("epoch", first_id, 4)]
    assert not (run.dir / "backup").exists()  # the id was kept with the backup, now gone


# -- TensorBoard HParams for tuning ---------------------------------------------------


def read_events(folder: Path) -> dict:
    """The hparams and scalars of every event file in ``folder`` (not below it)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.plugins.hparams import metadata
    from tensorboard.util.tensor_util import make_ndarray

    found: dict = {"hparams": {}, "experiment": None, "scalars": {}}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                content = value.metadata.plugin_data.content
                if value.tag == metadata.SESSION_START_INFO_TAG:
                    info = metadata.parse_session_start_info_plugin_data(content)
                    found["hparams"] = {k: v.WhichOneof("kind") and getattr(
                        v, v.WhichOneof("kind")) for k, v in info.hparams.items()}
                elif value.tag == metadata.EXPERIMENT_TAG:
                    found["experiment"] = metadata.parse_experiment_plugin_data(content)
                elif value.metadata.plugin_data.plugin_name == "scalars":
                    found["scalars"].setdefault(value.tag, []).append(
                        (event.step, float(make_ndarray(value.tensor))))
    return found


@pytest.fixture(scope="module")
def tensorboard_search(tmp_path_factory):
    """A 3-trial search whose declaration has a ``tensorboard`` callback."""
    directory = tmp_path_factory.mktemp("tb") / "search"
    decl = small(hp.Choice([4, 8, 16], default=8), callbacks=["tensorboard"])
    result = kk.tune(decl, "iris", tuner="grid", max_trials=3, max_epochs=2,
                     out=directory)
    return result, directory / "tensorboard"


def test_tuning_writes_an_hparams_summary_per_trial(tensorboard_search):
    result, logs = tensorboard_search
    trials = sorted(p for p in logs.iterdir() if p.is_dir())
    assert len(trials) == len(result.trials) == 3
    seen = set()
    for folder in trials:
        events = read_events(folder)
        seen.add(events["hparams"]["blocks.0.units"])
        assert [step for step, _ in events["scalars"]["val_accuracy"]] == [0, 1]
    assert seen == {4.0, 8.0, 16.0}


def test_the_search_writes_the_experiment_for_the_dashboard(tensorboard_search):
    _, logs = tensorboard_search
    experiment = read_events(logs)["experiment"]
    assert experiment is not None
    assert [h.name for h in experiment.hparam_infos] == ["blocks.0.units"]
    assert sorted(v.number_value for v in experiment.hparam_infos[0].domain_discrete.values) \
        == [4.0, 8.0, 16.0]
    tags = {m.name.tag for m in experiment.metric_infos}
    assert {"val_accuracy", "val_loss", "loss", "accuracy"} <= tags


# -- kerakit runs ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    runs = tmp_path_factory.mktemp("listing") / "runs"
    kk.fit(small(8, epochs=1), "iris", out=runs / "narrow", verbose=0)
    kk.fit(small(16, epochs=1, batch_size=16), "iris", out=runs / "wide", verbose=0)
    (runs / "not-a-run").mkdir()
    return runs


def test_runs_lists_run_directories_without_loading_tensorflow(two_runs):
    code = ("import sys, contextlib, io; from kerakit.cli import main\n"
            "out = io.StringIO()\n"
            f"with contextlib.redirect_stdout(out): main(['runs', {str(two_runs)!r}, '--json'])\n"
            "print(out.getvalue()); print('tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=cli_env(), cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    document, _, loaded = result.stdout.strip().rpartition("\n")
    assert loaded == "False"
    rows = json.loads(document)
    assert [r["name"] for r in rows] == ["narrow", "wide"]
    for row in rows:
        assert row["data"] == "iris" and row["epochs"] == 1 and row["seconds"] > 0
        assert set(row["test"]) == {"accuracy", "loss"} and row["when"]
        assert row["plugins"] == []


def test_runs_table_and_diff(two_runs):
    table = run_cli("runs", str(two_runs))
    assert table.returncode == 0, table.stderr
    header, _, *lines = table.stdout.splitlines()
    assert header.split() == ["name", "when", "data", "test", "epochs", "time", "plugins"]
    assert [line.split()[0] for line in lines] == ["narrow", "wide"]
    diff = json.loads(run_cli("runs", "diff", str(two_runs / "narrow"), str(two_runs / "wide"),
                              "--json").stdout)
    changed = {d["key"]: (d["a"], d["b"]) for d in diff["declaration"]}
    assert changed == {"blocks.0.params.units": (8, 16), "fit.batch_size": (32, 16)}
    metrics = {m["metric"]: (m["a"], m["b"]) for m in diff["metrics"]}
    assert {"test_accuracy", "test_loss", "epochs", "seconds", "data"} <= set(metrics)
    assert metrics["epochs"] == (1, 1)
    text = run_cli("runs", "diff", str(two_runs / "narrow"), str(two_runs / "wide")).stdout
    assert "blocks.0.params.units  8" in text and "test_accuracy" in text


def test_runs_refuses_what_is_not_a_run(two_runs):
    result = run_cli("runs", "diff", str(two_runs / "narrow"), str(two_runs / "not-a-run"))
    assert result.returncode == 1
    assert "Invalid run directory" in result.stderr and "not-a-run" in result.stderr
    assert run_cli("runs", "diff", "only-one").returncode == 1
