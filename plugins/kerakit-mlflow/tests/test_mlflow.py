"""kerakit-mlflow against a real local MLflow store (sqlite in tmp_path), nothing mocked.

One `kerakit tune --track mlflow` with 3 trials (one of them failing) and one
`kerakit train --track mlflow --export` run once, through the command line's
entry point in this process (one TensorFlow start-up for both); every test
reads what they logged back through ``MlflowClient``.

The trust tests use real processes and sockets: a server that accepts and
never answers, a closed port, and a training process killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kerakit_mlflow.tracker import MlflowTracker
from mlflow import MlflowClient

from kerakit.base import RunOutcome, TrackedRun

RECIPE = '''
import kerakit as kk
from kerakit import hp

data = "iris"
model = kk.Model(
    (4,), [kk.use("dense_block", units=hp.Choice([8], default=8))],
    kk.use("classifier", classes=3),
    # a grid over three optimizers: three trials; a NaN learning rate fails the third
    optimizer=hp.OneOf(kk.use("adam", learning_rate=1e-2), kk.use("rmsprop", learning_rate=1e-2),
                       kk.use("sgd", learning_rate=float("nan"))),
    epochs=2, batch_size=32, name="iris_mlflow",
)
'''


def kerakit(*args: str) -> None:
    """Run the installed `kerakit` command's entry point, in this process."""
    from importlib.metadata import entry_points

    [command] = entry_points(group="console_scripts", name="kerakit")
    assert command.load()(list(args)) == 0


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[MlflowClient, Path]:
    """One tuning search and one exported training run, logged to one store."""
    tmp = tmp_path_factory.mktemp("mlflow")
    (tmp / "recipe.py").write_text(RECIPE)
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        for name in [k for k in os.environ if k.startswith(("KERAKIT_", "MLFLOW_"))]:
            patch.delenv(name)
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.chdir(tmp)
        kerakit("tune", "recipe.py", "--tuner", "grid", "--max-trials", "3", "--max-epochs",
                "2", "--out", "tuning", "--track", "mlflow")
        kerakit("train", "recipe.py", "--out", "runs/one", "--export", "export", "--track",
                "mlflow")
    return MlflowClient(tracking_uri=uri), tmp


def runs_by_kind(client: MlflowClient) -> dict[str, list]:
    experiment = client.get_experiment_by_name("iris_mlflow")
    assert experiment is not None, [e.name for e in client.search_experiments()]
    found: dict[str, list] = {}
    for run in client.search_runs([experiment.experiment_id]):
        found.setdefault(run.data.tags["kerakit.kind"], []).append(run)
    return found


def artifact_paths(client: MlflowClient, run_id: str, path: str = "") -> set[str]:
    paths = set()
    for item in client.list_artifacts(run_id, path):
        paths |= artifact_paths(client, run_id, item.path) if item.is_dir else {item.path}
    return paths


def test_one_parent_run_and_a_nested_run_per_trial(store):
    client, _ = store
    runs = runs_by_kind(client)
    [parent] = runs["search"]
    trials = runs["trial"]
    assert len(trials) == 3
    assert {t.data.tags["mlflow.parentRunId"] for t in trials} == {parent.info.run_id}
    assert "mlflow.parentRunId" not in parent.data.tags
    assert parent.info.status == "FINISHED"
    assert parent.data.params["objective"] == "val_accuracy"
    assert 0 <= parent.data.metrics["best_val_accuracy"] <= 1


def test_trials_carry_dotted_params_epochs_and_models(store):
    client, _ = store
    trials = {t.data.params["optimizer"]: t for t in runs_by_kind(client)["trial"]}
    assert set(trials) == {"adam", "rmsprop", "sgd"}
    for name in ("adam", "rmsprop"):
        trial = trials[name]
        assert trial.info.status == "FINISHED"
        assert trial.data.params["blocks.0.units"] == "8"
        assert trial.data.params["data.name"] == "iris"
        assert len(trial.data.params["data.fingerprint"]) == 16
        assert "version.kerakit" in trial.data.params
        history = client.get_metric_history(trial.info.run_id, "val_loss")
        assert [m.step for m in history] == [0, 1]
        assert "model/model.keras" in artifact_paths(client, trial.info.run_id)


def test_a_failed_trial_is_a_failed_nested_run_with_its_reason(store):
    client, _ = store
    [failed] = [t for t in runs_by_kind(client)["trial"] if t.data.params["optimizer"] == "sgd"]
    assert failed.info.status == "FAILED"
    assert "NaN" in failed.data.tags["kerakit.error"]
    assert not any(p.endswith(".keras") for p in artifact_paths(client, failed.info.run_id))


def test_a_training_run_logs_test_metrics_records_and_its_export(store):
    client, tmp = store
    [run] = runs_by_kind(client)["train"]
    assert run.info.status == "FINISHED" and run.info.run_name == "one"
    assert 0 <= run.data.metrics["test_accuracy"] <= 1
    assert len(client.get_metric_history(run.info.run_id, "loss")) == 2
    paths = artifact_paths(client, run.info.run_id)
    assert {"model/model.keras", "run/metrics.json", "run/manifest.json",
            "declaration.json"} <= paths
    exported = {p.relative_to(tmp / "export").as_posix()
                for p in (tmp / "export").rglob("*") if p.is_file()}
    assert "saved_model.pb" in exported
    assert {f"saved_model/{p}" for p in exported} <= paths


def test_long_and_odd_values_become_valid_params(tmp_path):
    tracker = MlflowTracker(uri=f"sqlite:///{tmp_path / 'm.db'}", experiment="odd")
    run = TrackedRun("1", "odd", "train", hyperparameters={"a b": "x" * 9000, "c:d": [1, 2]})
    tracker.start_run(run)
    tracker.end_run(run, RunOutcome("pruned", error="stopped early"))
    logged = tracker.client.get_run(tracker.ids["1"])
    assert len(logged.data.params["a b"]) == 6000
    assert logged.data.params["c_d"] == "[1, 2]"
    assert logged.info.status == "KILLED"
    assert logged.data.tags["kerakit.status"] == "pruned"
    # artifacts sit beside the store, not in whatever directory the run started in
    experiment = tracker.client.get_experiment_by_name("odd")
    assert experiment.artifact_location == (tmp_path / "mlruns" / "odd").as_uri()


def test_mlflow_records_the_run_dir_absolute(store):
    client, tmp = store
    [run] = runs_by_kind(client)["train"]
    recorded = Path(run.data.tags["kerakit.run_dir"])  # the run was given as runs/one
    assert recorded.is_absolute(), recorded
    assert recorded.resolve() == (tmp / "runs" / "one").resolve()


# -- trackers never block training ----------------------------------------------------

#: Trains iris once per (name, tracking URI) in argv, with the MLflow tracker on;
#: prints per run: seconds, whether metrics.json was written, the tracker warnings.
UNREACHABLE = """
import json, os, sys, time, warnings
import kerakit as kk
from kerakit.errors import TrackerWarning

decl = kk.Model((4,), [kk.use("dense_block", units=8)], kk.use("classifier", classes=3),
                epochs=3, name="iris_unreachable")
kk.fit(decl, "iris", out="warm", verbose=0)  # TensorFlow's start-up, not timed
found = {}
for name, uri in json.loads(sys.argv[1]).items():
    os.environ["MLFLOW_TRACKING_URI"] = uri
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.monotonic()
        run = kk.fit(decl, "iris", out=name, verbose=0, track=["mlflow"])
        seconds = time.monotonic() - start
    found[name] = {"seconds": seconds, "metrics": (run.dir / "metrics.json").is_file(),
                   "warnings": [str(w.message) for w in caught
                                if issubclass(w.category, TrackerWarning)]}
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def unreachable(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Three runs in one process: a server that accepts and never answers, a closed port,
    and a sqlite store that cannot be opened (a directory)."""
    tmp = tmp_path_factory.mktemp("unreachable")
    (tmp / "store").mkdir()
    with silent_server() as port, socket.create_server(("127.0.0.1", 0)) as probe:
        closed = probe.getsockname()[1]
        probe.close()  # a free port, and nothing listens on it
        uris = {"stalled": f"http://127.0.0.1:{port}", "closed": f"http://127.0.0.1:{closed}",
                "unopenable": f"sqlite:///{tmp / 'store'}"}
        env = clean_env(KERAKIT_TRACK_TIMEOUT="3")
        done = subprocess.run([sys.executable, "-c", UNREACHABLE, json.dumps(uris)], cwd=tmp,
                              env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@contextmanager
def silent_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that accepts every connection and never answers; its port."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        try:
            while True:
                held.append(server.accept()[0])
        except OSError:  # closed: the test is over
            pass

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
        for connection in held:
            connection.close()


def test_a_stalled_tracking_server_does_not_stall_training(unreachable):
    run = unreachable["stalled"]  # MLflow alone would wait about 20 minutes
    assert run["seconds"] < 60 and run["metrics"], run
    [warning] = run["warnings"]
    assert "`mlflow.mlflow`" in warning and "TimeoutError" in warning, warning


def test_a_closed_tracking_port_does_not_delay_training(unreachable):
    run = unreachable["closed"]  # MLflow alone would retry for about 250 s
    assert run["seconds"] < 60 and run["metrics"], run
    [warning] = run["warnings"]
    assert "`mlflow.mlflow`" in warning and "127.0.0.1" in warning, warning
    assert "TimeoutError" not in warning  # MLflow itself gave up at once: one quick retry


def test_an_unopenable_sqlite_store_does_not_delay_training(unreachable):
    run = unreachable["unopenable"]  # MLflow alone would retry for about 100 s
    assert run["seconds"] < 60 and run["metrics"], run
    [warning] = run["warnings"]
    assert "`mlflow.mlflow`" in warning and "Invalid MLflow tracking store" in warning, warning


#: The declaration of the killed and the resumed run.
RESUMED = """
import kerakit as kk
decl = kk.Model((4,), [kk.use("dense_block", units=8)], kk.use("classifier", classes=3),
                epochs=20, name="iris_resumed")
"""
#: Trains it for slow epochs, backing up every epoch, until it is killed.
KILLED = RESUMED + """
import time
import keras

slow = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: time.sleep(0.3))
kk.fit(decl, "iris", out="run", verbose=0, track=["mlflow"], backup_every=0, callbacks=[slow])
"""


def test_a_resumed_run_continues_its_mlflow_run(tmp_path, monkeypatch):
    import kerakit as kk

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)  # creates the store: one process migrates it
    env = clean_env(MLFLOW_TRACKING_URI=uri)
    with open(tmp_path / "killed.log", "w") as log:
        killed = subprocess.Popen([sys.executable, "-c", KILLED], cwd=tmp_path, env=env,
                                  stdout=log, stderr=log)
    state = tmp_path / ".run.partial" / "backup" / "state.json"
    try:
        wait_until(lambda: _epochs_backed_up(state) >= 3 and _runs(client, "iris_resumed"),
                   killed, "3 epochs backed up and the MLflow run created",
                   tmp_path / "killed.log")
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    [crashed] = _runs(client, "iris_resumed")
    assert crashed.info.status == "RUNNING"
    for name in set(os.environ) - set(clean_env()):
        monkeypatch.delenv(name)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    recipe: dict = {}
    exec(RESUMED, recipe)

    run = kk.fit(recipe["decl"], "iris", out="run", verbose=0, track=["mlflow"])
    resumed_at = json.loads((tmp_path / "run" / "metrics.json").read_text())["resumed_at_epoch"]
    assert resumed_at >= 3
    [logged] = _runs(client, "iris_resumed")  # the same MLflow run, not a second one
    assert logged.info.run_id == crashed.info.run_id and logged.info.status == "FINISHED"
    assert logged.data.tags["kerakit.resumed_at_epoch"] == str(resumed_at)
    steps = [m.step for m in client.get_metric_history(logged.info.run_id, "loss")]
    assert sorted(steps) == list(range(20)), steps  # every epoch once: no gap
    assert logged.data.metrics["test_accuracy"] == pytest.approx(run.metrics["accuracy"])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without kerakit's and MLflow's settings (the cache kept)."""
    env = {k: v for k, v in os.environ.items() if k == "KERAKIT_CACHE_DIR"
           or not k.startswith(("KERAKIT_", "MLFLOW_"))}
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def wait_until(condition, process: subprocess.Popen, what: str, log: Path,
               timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the training process ended before {what}: "
                                 f"{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout} s")
        time.sleep(0.1)


def _epochs_backed_up(state: Path) -> int:
    try:
        return int(json.loads(state.read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


def _runs(client: MlflowClient, experiment: str) -> list:
    """The experiment's runs; none while it does not exist or the store is busy."""
    try:
        found = client.get_experiment_by_name(experiment)
        return client.search_runs([found.experiment_id]) if found is not None else []
    except Exception:  # the other process is writing: ask again
        return []
