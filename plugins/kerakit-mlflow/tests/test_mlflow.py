"""kerakit-mlflow against a real local MLflow store (sqlite in tmp_path), nothing mocked.

One `kerakit tune --track mlflow` with 3 trials (one of them failing) and one
`kerakit train --track mlflow --export` run once, through the command line's
entry point in this process (one TensorFlow start-up for both); every test
reads what they logged back through ``MlflowClient``.
"""

from __future__ import annotations

import os
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
