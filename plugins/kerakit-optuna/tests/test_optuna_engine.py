"""kerakit-optuna: real processes join one study on SQLite and on a journal file.

Every worker is a fresh ``python`` process that imports TensorFlow, so the
models are tiny (iris, one dense block, 1-3 epochs) and the studies small.
"""

from __future__ import annotations

import csv
import json
import os
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
import sys
import kerakit as kk
from kerakit.declaration.recipes import load_recipe

decl, data = load_recipe(sys.argv[1])
kk.tune(decl, data, engine="optuna", storage=sys.argv[2], study="s", max_trials=int(sys.argv[3]),
        directory=sys.argv[4], heartbeat=1)
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

    from kerakit.declaration.recipes import load_recipe

    decl, data = load_recipe(str(recipe))
    result = kk.tune(decl, data, engine="optuna", storage=storage, study="s", max_trials=4,
                     directory=tmp_path / "out", heartbeat=1)
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
                     directory=tmp_path / "p", storage=storage)
    statuses = {r["optimizer"]: r["status"] for r in result.trials}
    assert statuses == {"sgd": "PRUNED", "adam": "COMPLETED"}, result.trials
    assert result.best_hyperparameters["optimizer"] == "adam"
    study = optuna.load_study(study_name="prune_me", storage=storage)
    for t in study.get_trials(states=(optuna.trial.TrialState.PRUNED,)):
        assert sorted(t.intermediate_values) == [0, 1]  # stopped after its second epoch
    with open(tmp_path / "p" / "trials.csv") as f:
        assert "pruned at epoch 2" in f.read()


CONDITIONAL = kk.Model(
    name="space", inputs=(8, 8, 1),
    blocks=[hp.OneOf(kk.use("conv_block", filters=hp.Choice([8, 16]),
                            kernel_size=hp.Int(3, 5, step=2)),
                     kk.use("residual_conv_block", filters=hp.Int(8, 32, step=8, log=False))),
            "global_avg_pool",
            kk.use("dropout", rate=hp.Float(0.0, 0.5, step=0.1))],
    head=kk.use("classifier", classes=10),
    optimizer=hp.OneOf(kk.use("adam", learning_rate=hp.Float(1e-4, 1e-2, log=True)),
                       kk.use("sgd", momentum=hp.Boolean()), "rmsprop"),
    batch_size=hp.Choice([16, 32]), epochs=hp.Int(2, 6))


def test_search_space_matches_the_keras_tuner_engine():
    import keras_tuner as kt
    from kerakit_optuna.sampler import OptunaSampler, distribution

    from kerakit.declaration.model import resolve
    from kerakit.tuning.search_space import TunerSampler

    class EveryBranch(TunerSampler):
        all_branches = True  # declare every option's placeholders, as trials discover them

    kt_hp = kt.HyperParameters()
    resolve(CONDITIONAL, EveryBranch(kt_hp))
    kt_space = {p.name: p for p in kt_hp.space}
    assert set(kt_space) == set(CONDITIONAL.hyperparameters())

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen: set[str] = set()
    for _ in range(60):
        trial = study.ask()
        resolve(CONDITIONAL, OptunaSampler(trial))
        seen |= set(trial.params)
        # the names Optuna drew are exactly the ones KerasTuner holds active for these values
        hps = kt_hp.copy()
        for name, p in kt_space.items():
            hps.values[name] = trial.params.get(name, p.default)
        active = {name for name, p in kt_space.items() if hps.is_active(p)}
        assert set(trial.params) == active, (trial.params, active)
        for name, value in trial.params.items():
            assert _in_keras_tuner_domain(kt_space[name], value), (name, value)
        study.tell(trial, 0.0)
    assert seen == set(kt_space)
    # and the domains agree value for value where they are finite
    for name, p in CONDITIONAL.hyperparameters().items():
        dist, kt_p = distribution(p), kt_space[name]
        if isinstance(kt_p, kt.engine.hyperparameters.Boolean):
            assert set(dist.choices) == set(kt_p.values), name
        elif isinstance(kt_p, kt.engine.hyperparameters.Choice):
            assert list(dist.choices) == list(kt_p.values), name
        else:
            assert (dist.low, dist.high, dist.log, dist.step or None) == (
                kt_p.min_value, kt_p.max_value, kt_p.sampling == "log",
                kt_p.step if kt_p.step != 1 or isinstance(dist.low, int) else None), name


def _in_keras_tuner_domain(p, value) -> bool:
    if not hasattr(p, "min_value"):  # Choice, Boolean
        return value in p.values
    if not p.min_value <= value <= p.max_value + 1e-9:
        return False
    return not p.step or abs((value - p.min_value) / p.step - round((value - p.min_value)
                                                                     / p.step)) < 1e-6


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


@pytest.mark.parametrize(("options", "message"), [
    ({"tuner": "hyperband"}, r"Invalid tuner for the engine `optuna`.*Received: "
                             r"tuner='hyperband'"),
    ({"pruner": "asha"}, r"Invalid pruner.*median, hyperband, none.*Received: pruner='asha'"),
    ({"sampler": "tpe"}, r"Invalid option for the engine `optuna`.*storage, study, pruner"),
    ({"workers": 2}, r"Invalid workers for the engine `optuna`"),
])
def test_bad_options_fail_before_anything_runs(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        kk.tune(CONDITIONAL, "digits", engine="optuna", directory=tmp_path, **options)
    assert not any(tmp_path.iterdir())


def test_the_engine_comes_from_the_installed_plugin():
    info = kk.tuner_engines()["optuna"]
    assert info.plugin == "optuna"
    assert "keras_tuner" in kk.tuner_engines()
