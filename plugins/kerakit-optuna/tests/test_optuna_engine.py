"""kerakit-optuna: real processes join one study on SQLite and on a journal file.

Every worker is a fresh ``python`` process that imports TensorFlow, so the
models are tiny (iris, one dense block, 1-3 epochs) and the studies small.
"""

from __future__ import annotations

import csv
import json
import os
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

import kerakit as kk
from kerakit import hp
from kerakit.errors import DeclarationError

RECIPE = '''
import kerakit as kk
from kerakit import hp

data = "iris"
model = kk.Model(
    name="iris_optuna", inputs=(4,), preprocess=["standardize"],
    blocks=[kk.use("dense_block", units=hp.Choice([4, 8]))],
    head=kk.use("classifier", classes=3),
    optimizer=hp.OneOf(kk.use("adam", learning_rate=hp.Float(1e-3, 1e-1, log=True)),
                       kk.use("sgd", learning_rate=0.1)),
    batch_size=hp.Choice([16, 32]),
    epochs=EPOCHS,
)
'''

WORKER = '''
import runpy
import sys
import kerakit as kk

recipe = runpy.run_path(sys.argv[1])
kk.tune(recipe["model"], recipe["data"], engine="optuna", storage=sys.argv[2], study="s",
        max_trials=int(sys.argv[3]), out=sys.argv[4], heartbeat=1)
'''


def env() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def write_recipe(folder: Path, epochs: int) -> Path:
    path = folder / "recipe.py"
    path.write_text(RECIPE.replace("EPOCHS", str(epochs)))
    return path


def cli(recipe: Path, storage: str, out: Path, trials: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "kerakit", "tune", str(recipe), "--engine", "optuna",
         "--storage", storage, "--study", "s", "--max-trials", str(trials), "--out", str(out),
         "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())


def worker(folder: Path, recipe: Path, storage: str, trials: int) -> subprocess.Popen:
    script = folder / "worker.py"
    script.write_text(WORKER)
    return subprocess.Popen([sys.executable, str(script), str(recipe), storage, str(trials),
                             str(folder / "out")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env())


def load(storage: str) -> optuna.Study:
    from kerakit_optuna.study import open_storage

    return optuna.load_study(study_name="s", storage=open_storage(storage))


def storage_url(kind: str, folder: Path) -> str:
    return f"sqlite:///{folder / 'study.db'}" if kind == "sqlite" else \
        f"journal:{folder / 'study.log'}"


def kill_mid_trial(proc: subprocess.Popen, storage: str, after_finished: int = 0) -> None:
    """kill -9 ``proc`` while it holds a running trial (after ``after_finished`` are done)."""
    name = f"{os.uname().nodename}:{proc.pid}"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        try:
            trials = load(storage).get_trials(deepcopy=False)
        except (KeyError, Exception):  # the study is not created yet
            trials = []
        finished = sum(1 for t in trials if t.state.is_finished())
        if finished >= after_finished and any(
                t.state.name == "RUNNING" and t.user_attrs.get("worker") == name
                for t in trials):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return
        time.sleep(0.1)
    raise AssertionError(f"the worker never held a running trial: {proc.communicate()}")


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_three_workers_run_exactly_max_trials_once_each(tmp_path, kind):
    recipe, storage = write_recipe(tmp_path, epochs=1), storage_url(kind, tmp_path)
    procs = [cli(recipe, storage, tmp_path / "out", trials=6) for _ in range(3)]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    documents = [json.loads(out) for out, _ in outputs]
    assert {d["trials"] for d in documents} == {6}  # every process saw the whole study

    trials = load(storage).get_trials()
    assert sorted(t.number for t in trials) == list(range(6))
    assert all(t.state.is_finished() for t in trials)
    workers = {t.user_attrs["worker"] for t in trials}
    assert len(workers) >= 2, workers  # the study really was shared
    assert workers <= {f"{os.uname().nodename}:{p.pid}" for p in procs}

    with open(tmp_path / "out" / "trials.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 and {r["worker"] for r in rows} == workers
    assert {r["status"] for r in rows} <= {"COMPLETED", "PRUNED", "FAILED"}
    for name in ("best_hyperparameters.json", "best_declaration.json", "tuning.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    best = kk.Model.from_json((tmp_path / "out" / "best_declaration.json").read_text())
    assert not best.hyperparameters()  # concrete, re-runnable
    progress = "".join(err for _, err in outputs)
    assert "/6  #" in progress and "eta " in progress


def test_kill_9_of_one_worker_fails_its_trial_and_the_other_finishes(tmp_path):
    recipe, storage = write_recipe(tmp_path, epochs=3), storage_url("journal", tmp_path)
    survivor = worker(tmp_path, recipe, storage, trials=4)
    victim = worker(tmp_path, recipe, storage, trials=4)
    kill_mid_trial(victim, storage)
    _, err = survivor.communicate(timeout=300)
    assert survivor.returncode == 0, err[-3000:]
    assert victim.returncode == -signal.SIGKILL

    trials = load(storage).get_trials()
    assert sorted(t.number for t in trials) == list(range(4))
    lost = [t for t in trials if "worker lost" in t.user_attrs.get("reason", "")]
    assert len(lost) == 1 and lost[0].state.name == "FAIL"
    assert lost[0].user_attrs["worker"] == f"{os.uname().nodename}:{victim.pid}"
    assert all(t.state.is_finished() for t in trials)


def test_rerun_after_every_worker_was_killed_resumes(tmp_path):
    recipe, storage = write_recipe(tmp_path, epochs=3), storage_url("sqlite", tmp_path)
    first = worker(tmp_path, recipe, storage, trials=4)
    kill_mid_trial(first, storage, after_finished=1)
    before = {t.number: t.params for t in load(storage).get_trials()
              if t.state.name in ("COMPLETE", "PRUNED")}
    assert before

    decl = runpy.run_path(str(recipe))["model"]
    result = kk.tune(decl, "iris", engine="optuna", storage=storage, study="s", max_trials=4,
                     out=tmp_path / "out", heartbeat=1)
    trials = load(storage).get_trials()
    assert sorted(t.number for t in trials) == list(range(4))
    assert len(result.trials) == 4
    assert sum(1 for t in trials if "worker lost" in t.user_attrs.get("reason", "")) == 1
    assert {n: t.params for t in trials for n in [t.number] if n in before} == before


def test_pruning_stops_bad_trials_and_records_them(tmp_path):
    decl = kk.Model(
        name="prune_me", inputs=(4,), preprocess=["standardize"],
        blocks=[kk.use("dense_block", units=16)], head=kk.use("classifier", classes=3),
        # sgd at 1e-6 learns nothing; adam at 0.05 learns iris in an epoch or two
        optimizer=hp.OneOf(kk.use("adam", learning_rate=0.05),
                           kk.use("sgd", learning_rate=1e-6)),
        batch_size=8, epochs=4, seed=0)  # the sampler draws sgd, adam, sgd, sgd
    # built to prune: below 0.6 validation accuracy after the second epoch
    pruner = optuna.pruners.ThresholdPruner(lower=0.6, n_warmup_steps=1)
    storage = f"sqlite:///{tmp_path / 'p.db'}"
    result = kk.tune(decl, "iris", engine="optuna", pruner=pruner, max_trials=4,
                     out=tmp_path / "p", storage=storage)
    statuses = {r["optimizer"]: r["status"] for r in result.trials}
    assert statuses == {"sgd": "PRUNED", "adam": "COMPLETED"}, result.trials
    assert result.best_hyperparameters["optimizer"] == "adam"
    study = optuna.load_study(study_name="prune_me", storage=storage)
    for t in study.get_trials(states=(optuna.trial.TrialState.PRUNED,)):
        assert sorted(t.intermediate_values) == [0, 1]  # stopped after its second epoch
    with open(tmp_path / "p" / "trials.csv") as f:
        assert "pruned at epoch 2" in f.read()


def test_a_study_keeps_its_budget_and_space(tmp_path):
    from kerakit_optuna.study import join_study, open_storage

    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}")
    common = {"direction": "maximize", "sampler_for": lambda joined: None, "pruner": None,
              "objective": "val_accuracy", "overwrite": False}
    study = join_study(storage, "s", budget=3, fingerprint="a", **common)
    assert len(study.get_trials(states=(optuna.trial.TrialState.WAITING,))) == 3
    join_study(storage, "s", budget=3, fingerprint="a", **common)  # joining adds nothing
    assert len(study.get_trials()) == 3
    with pytest.raises(DeclarationError, match=r"Invalid max_trials for the study `s`.*"
                                               r"Received: max_trials=5"):
        join_study(storage, "s", budget=5, fingerprint="a", **common)
    with pytest.raises(DeclarationError, match="Invalid declaration for the study"):
        join_study(storage, "s", budget=3, fingerprint="b", **common)


SPACE = kk.Model(name="space", inputs=(4,), blocks=[kk.use("dense_block", units=hp.Int(4, 8))],
                 head=kk.use("classifier", classes=3))


@pytest.mark.parametrize(("options", "message"), [
    ({"tuner": "hyperband"}, r"Invalid value for argument `tuner` of the engine `optuna`.*"
                             r"Received: tuner='hyperband'"),
    ({"pruner": "asha"}, r"Invalid value for argument `pruner`.*"
                         r"median, hyperband, sha, wilcoxon, none.*Received: pruner='asha'"),
    ({"sampler": "tpe"}, r"Invalid option for the engine `optuna`.*storage, study, pruner"),
    ({"workers": 2}, r"Invalid value for argument `workers` of the engine `optuna`"),
])
def test_bad_options_fail_before_anything_runs(tmp_path, options, message):
    with pytest.raises(kk.UsageError, match=message):
        kk.tune(SPACE, "iris", engine="optuna", out=tmp_path, **options)
    assert not any(tmp_path.iterdir())


def test_the_engine_comes_from_the_installed_plugin():
    info = kk.tuner_engines()["optuna"]
    assert info.plugin == "optuna"
    assert "keras_tuner" in kk.tuner_engines()


def test_two_different_searches_cannot_share_one_out(tmp_path):
    # two processes, two declarations (so two studies), one --out: one is refused
    out = tmp_path / "shared"
    procs = []
    for name in ("first", "second"):
        folder = tmp_path / name
        folder.mkdir()
        recipe = write_recipe(folder, 1)
        recipe.write_text(recipe.read_text().replace('name="iris_optuna"', f'name="{name}"'))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "kerakit", "tune", str(recipe), "--engine", "optuna",
             "--max-trials", "2", "--out", str(out), "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env()))
    results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], [err[-2000:] for _, _, err in results]
    winner = next(i for i, (code, _, _) in enumerate(results) if code == 0)
    loser_err = results[1 - winner][2]
    assert f"Invalid output directory {str(out)!r}" in loser_err
    assert "belongs to another study" in loser_err
    best = json.loads((out / "best_declaration.json").read_text())
    assert best["name"] == ("first", "second")[winner]


@pytest.mark.parametrize("storage, reason", [
    ("sqlite:////proc/no-such-dir/study.db", "unable to open database file"),
    ("sqlite:///CORRUPT_DB", "file is not a database"),
    ("nosuchdialect://host/db", "NoSuchModuleError"),
    ("journal:CORRUPT_JOURNAL", "JSONDecodeError"),
])
def test_optuna_storage_errors_name_the_storage_at_once(tmp_path, monkeypatch, storage,
                                                        reason):
    from kerakit_optuna import study

    waits = []
    monkeypatch.setattr(study.time, "sleep", waits.append)
    (tmp_path / "corrupt.db").write_bytes(b"not a database " * 20)
    (tmp_path / "corrupt.log").write_text("not a journal\nnot one either\n")
    storage = storage.replace("CORRUPT_DB", str(tmp_path / "corrupt.db")).replace(
        "CORRUPT_JOURNAL", str(tmp_path / "corrupt.log"))
    with pytest.raises(kk.UsageError) as error:
        kk.tune(SPACE, "iris", engine="optuna", storage=storage, max_trials=1,
                out=tmp_path / "out")
    assert waits == []  # failed at once, not retried for 16 s as a schema race
    message = str(error.value)
    assert f"Cannot use the Optuna storage {storage!r}" in message and reason in message
