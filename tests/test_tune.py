"""Tuning: real tiny searches, conditional spaces, failures, resume, distributed, CLI."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cli_env, run_cli

import kerakit as kk
from kerakit import hp
from kerakit.errors import DeclarationError
from kerakit.tuning.search import tune

RECIPE = '''
import kerakit as kk
from kerakit import hp

data = "iris"
model = kk.Model(
    name="iris_tune", inputs=(4,), preprocess=["standardize"],
    blocks=[kk.use("dense_block", units=hp.Choice([4, 8, 16]))],
    head=kk.use("classifier", classes=3),
    optimizer=hp.OneOf(kk.use("adam", learning_rate=hp.Float(1e-3, 1e-1, log=True, default=1e-2)),
                       kk.use("sgd", learning_rate=0.1)),
    epochs=3,
)
'''


def iris_space(**changes) -> kk.Model:
    decl = kk.Model(
        name="iris_tune",
        inputs=(4,),
        preprocess=["standardize"],
        blocks=[kk.use("dense_block", units=hp.Choice([4, 8, 16], default=8))],
        head=kk.use("classifier", classes=3),
        optimizer=hp.OneOf(
            kk.use("adam", learning_rate=hp.Float(1e-3, 1e-1, log=True, default=1e-2)),
            kk.use("sgd", learning_rate=0.1),
        ),
        batch_size=hp.Choice([16, 32]),
        epochs=3,
    )
    return decl.replace(**changes) if changes else decl


def read_trials(directory: Path) -> list[dict[str, str]]:
    with open(directory / "trials.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def random_search(tmp_path_factory):
    return tune(iris_space(), "iris", tuner="random", max_trials=5,
                out=tmp_path_factory.mktemp("tune") / "random")


def test_search_writes_its_outputs(random_search):
    directory = random_search.directory
    for name in ("best_hyperparameters.json", "best_declaration.json", "trials.csv",
                 "tuning.png"):
        assert (directory / name).is_file(), name
    rows = read_trials(directory)
    assert len(rows) == 5 and {r["status"] for r in rows} == {"COMPLETED"}
    assert {"trial", "status", "score", "seconds", "blocks.0.units", "optimizer",
            "batch_size"} <= set(rows[0])
    assert json.loads((directory / "best_hyperparameters.json").read_text()) == \
        random_search.best_hyperparameters
    assert random_search.best_score == max(float(r["score"]) for r in rows)


def test_best_declaration_is_concrete_and_reruns(random_search, tmp_path):
    best = random_search.best
    assert best.is_concrete
    assert kk.Model.from_json((random_search.directory / "best_declaration.json").read_text()) \
        == best
    values = random_search.best_hyperparameters
    assert best.blocks[0].params["units"] == values["blocks.0.units"]
    assert best.batch_size == values["batch_size"]
    assert best.optimizer.name == values["optimizer"]
    run = kk.fit(best, "iris", out=tmp_path / "run", verbose=0)
    assert "accuracy" in run.metrics
    assert random_search.best_model is not None


def test_parameters_of_a_choice_apply_only_when_it_is_chosen(random_search):
    for row in random_search.trials:
        if row["optimizer"] == "sgd":
            assert "optimizer.adam.learning_rate" not in row or \
                row["optimizer.adam.learning_rate"] in (None, "")
    if random_search.best_hyperparameters["optimizer"] == "sgd":
        assert "optimizer.adam.learning_rate" not in random_search.best_hyperparameters


def test_run_directory_callbacks_are_left_out_of_trials(tmp_path):
    # csv_logger and backup_and_restore write into a run directory, which trials do not have
    decl = iris_space(callbacks=["csv_logger", "backup_and_restore",
                                 kk.use("early_stopping", patience=2)])
    result = tune(decl, "iris", tuner="random", max_trials=2, out=tmp_path / "t")
    assert {r["status"] for r in result.trials} == {"COMPLETED"}


def test_same_seed_same_search(tmp_path):
    a = tune(iris_space(), "iris", tuner="random", max_trials=3, out=tmp_path / "a")
    b = tune(iris_space(), "iris", tuner="random", max_trials=3, out=tmp_path / "b")
    strip = [{k: v for k, v in r.items() if k not in ("seconds",)} for r in a.trials]
    again = [{k: v for k, v in r.items() if k not in ("seconds",)} for r in b.trials]
    assert strip == again


def test_failed_trials_are_recorded_and_the_search_goes_on(tmp_path):
    decl = iris_space(
        blocks=[hp.OneOf(kk.use("dense_block", units=8), kk.use("conv_block", filters=4),
                         name="body")],
        # a NaN learning rate makes the loss NaN after the first step, on every backend
        optimizer=hp.OneOf(kk.use("adam", learning_rate=1e-2),
                           kk.use("sgd", learning_rate=float("nan")), name="opt"),
        batch_size=16,
    )
    result = tune(decl, "iris", tuner="grid", max_trials=4, out=tmp_path / "t",
                  max_consecutive_failed_trials=4)
    rows = {(r["body"], r["opt"]): r for r in result.trials}
    assert len(rows) == 4
    assert rows[("dense_block", "adam")]["status"] == "COMPLETED"
    conv = rows[("conv_block", "adam")]
    assert conv["status"] == "FAILED" and "cannot build" in conv["reason"]
    assert "conv_block" in conv["reason"]
    nan = rows[("dense_block", "sgd")]
    assert nan["status"] == "FAILED" and "NaN" in nan["reason"]
    assert result.best_hyperparameters == {"body": "dense_block", "opt": "adam"}


def test_hyperband_and_bayesian_run(tmp_path):
    band = tune(iris_space(), "iris", tuner="hyperband", max_epochs=3, out=tmp_path / "h")
    assert len(band.trials) >= 3 and band.best.is_concrete
    bayes = tune(iris_space(), "iris", tuner="bayesian", max_trials=3, out=tmp_path / "b")
    assert len(bayes.trials) == 3


@pytest.mark.parametrize(("decl", "kwargs", "error", "message"), [
    (iris_space(blocks=["dense_block"], optimizer="adam", batch_size=16), {}, DeclarationError,
     "Nothing to tune"),
    (iris_space(), {"tuner": "grid"}, DeclarationError,
     "Grid search cannot enumerate the continuous range `optimizer.adam.learning_rate`"),
    (iris_space(), {"objective": "val_f1"}, DeclarationError,
     "Expected a logged metric, one of: accuracy, loss, val_accuracy, val_loss"),
    (iris_space(), {"max_trials": 0}, ValueError, "Expected an int >= 1"),
    (iris_space(), {"tuner": "annealing"}, ValueError,
     "Expected one of: random, bayesian, hyperband, grid"),
])
def test_bad_tuning_input(tmp_path, decl, kwargs, error, message):
    with pytest.raises(error) as err:
        tune(decl, "iris", out=tmp_path / "t", **kwargs)
    assert message in str(err.value)
    assert not (tmp_path / "t").exists()


def test_cli_tune_progress_json_and_retrain_best(tmp_path):
    recipe = tmp_path / "recipe.py"
    recipe.write_text(RECIPE)
    out = tmp_path / "tuning"
    result = run_cli("tune", str(recipe), "--tuner", "random", "--max-trials", "3", "--out",
                     str(out), "--json", "--retrain-best")
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads(result.stdout)
    assert document["trials"] == 3 and document["completed"] == 3
    assert "accuracy" in document["best_run"]["test"]
    assert (out / "best_run" / "model.keras").is_file()
    for n in (1, 2, 3):
        assert f"trial {n}/3  score " in result.stderr
    assert "best " in result.stderr and "elapsed 0:00:" in result.stderr and "eta" in result.stderr


def test_killed_search_resumes_without_rerunning_finished_trials(tmp_path):
    recipe = tmp_path / "recipe.py"
    recipe.write_text(RECIPE.replace("epochs=3", "epochs=8"))
    out = tmp_path / "tuning"
    args = [sys.executable, "-m", "kerakit", "tune", str(recipe), "--tuner", "random",
            "--max-trials", "5", "--out", str(out)]
    proc = subprocess.Popen(args, env=cli_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    records = lambda: sorted((out / "search").glob("trial_*/kerakit_trial.json"))  # noqa: E731
    while time.time() < deadline and len(records()) < 2:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p.parent.name: p.stat().st_mtime_ns for p in records()}
    assert 2 <= len(finished) < 5
    again = subprocess.run([*args, "--json"], env=cli_env(), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout)["completed"] == 5
    for name, mtime in finished.items():  # finished trials were not run again
        assert (out / "search" / name / "kerakit_trial.json").stat().st_mtime_ns == mtime


def test_a_trial_orphaned_by_a_kill_between_two_saves_runs_again(tmp_path):
    # a kill after a new trial's trial.json is written but before oracle.json
    # is: the trial is RUNNING on disk and unknown to the oracle's queues
    out = tmp_path / "t"
    tune(iris_space(), "iris", tuner="random", max_trials=3, out=out, verbose=0)
    search = out / "search"
    trial_file = search / "trial_2" / "trial.json"
    trial = json.loads(trial_file.read_text())
    trial.update(status="RUNNING", score=None, metrics={"metrics": {}})
    trial_file.write_text(json.dumps(trial))
    (search / "trial_2" / "kerakit_trial.json").unlink()
    state = json.loads((search / "oracle.json").read_text())
    for key in ("start_order", "end_order"):
        state[key] = [t for t in state[key] if t != "2"]
    state["run_times"].pop("2", None)
    (search / "oracle.json").write_text(json.dumps(state))
    again = tune(iris_space(), "iris", tuner="random", max_trials=3, out=out, verbose=0)
    assert [t["status"] for t in again.trials] == ["COMPLETED"] * 3
    assert (search / "trial_2" / "kerakit_trial.json").is_file()


def test_two_local_workers_share_a_search(tmp_path):
    recipe = tmp_path / "recipe.py"
    recipe.write_text(RECIPE)
    out = tmp_path / "tuning"
    result = run_cli("tune", str(recipe), "--tuner", "random", "--max-trials", "4",
                     "--workers", "2", "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)["completed"] == 4
    workers = {row["worker"] for row in read_trials(out)}
    assert workers == {"tuner0", "tuner1"}
    assert "[tuner0] trial" in result.stderr and "[tuner1] trial" in result.stderr
    assert "adam\n" not in result.stderr  # KerasTuner's stray debug print is silenced


def test_local_workers_tune_a_table_with_strings_and_missing_values(tmp_path):
    # the workers read the table back from Parquet: object arrays would not load
    rows = ["x1,x2,colour,y"]
    for i in range(60):
        colour = "" if i == 7 else ("red", "green", "blue")[i % 3]  # one missing value
        rows.append(f"{i % 7},{(i * 3) % 11 / 10},{colour},{i % 2}")
    (tmp_path / "table.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "tuning"
    result = run_cli("tune", "--data", str(tmp_path / "table.csv"), "--target", "y",
                     "--workers", "2", "--max-trials", "2", "--max-epochs", "1", "--out",
                     str(out), "--json", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads(result.stdout)
    assert document["trials"] == 2 and document["completed"] == 2
    assert {row["status"] for row in read_trials(out)} == {"COMPLETED"}
    assert (out / ".kerakit_search" / "data" / "x_train.parquet").is_file()
