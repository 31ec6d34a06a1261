"""Searches to trust: cross-validated trials, the Wilcoxon pruner, class weights, time budgets.

Real training on iris (tiny models, a few epochs) through ``kk.tune`` and
``kerakit tune``; a spy on ``keras.Model.fit`` records what each fit got and
still trains.
"""

from __future__ import annotations

import csv
import hashlib
import json
import statistics
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import run_cli, run_cli_batch

import kerakit as kk
from kerakit import hp
from kerakit.errors import KerakitError, UsageError
from kerakit.tuning.budget import SPENT_FILE, parse_duration
from kerakit.tuning.checked_search import Search
from kerakit.tuning.options import SearchOptions
from kerakit.tuning.search import prepare


def space(name: str = "iris_trust", **changes) -> kk.Model:
    decl = kk.Model(name=name, inputs=(4,), preprocess=["standardize"],
                    blocks=[kk.use("dense_block", units=hp.Choice([4, 8]))],
                    head=kk.use("classifier", classes=3), batch_size=16, epochs=2)
    return decl.replace(**changes) if changes else decl


def rows(directory: Path) -> list[dict[str, str]]:
    with open(directory / "trials.csv") as f:
        return list(csv.DictReader(f))


def digest(*arrays) -> str:
    return hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)
                          ).hexdigest()[:12]


@pytest.fixture
def fits(monkeypatch):
    """Every ``keras.Model.fit`` call's keyword arguments; the real fit still runs."""
    calls: list[dict] = []
    real = keras.Model.fit

    def spy(self, *args, **kwargs):
        calls.append(kwargs)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)
    return calls


def test_cv_scores_every_trial_on_the_same_folds(tmp_path, fits):
    result = kk.tune(space(), "iris", max_trials=2, cv=3, out=tmp_path / "t", verbose=0)
    table = rows(tmp_path / "t")
    assert len(table) == 2 and all(r["status"] == "COMPLETED" for r in table)
    for row in table:
        folds = json.loads(row["fold_scores"])
        assert len(folds) == 3
        assert float(row["score"]) == pytest.approx(statistics.fmean(folds), abs=1e-5)
        assert float(row["score_std"]) == pytest.approx(statistics.pstdev(folds), abs=1e-5)
    # each trial fitted one model per fold, validated on the folds made once from the seed
    seen = [digest(*call["validation_data"]) for call in fits]
    assert len(seen) == 6 and seen[:3] == seen[3:] and len(set(seen[:3])) == 3
    folds = prepare(space(), "iris", SearchOptions(cv=3)).folds
    assert seen[:3] == [digest(f.x_val, f.y_val) for f in folds]
    again = prepare(space(), "iris", SearchOptions(cv=3)).folds
    assert [digest(f.x_val, f.y_val) for f in again] == seen[:3]
    assert result.best_epochs is not None and 1 <= result.best_epochs <= 2


def test_worker_processes_get_the_same_folds(tmp_path):
    from kerakit.tuning.handoff import read_spec, write_spec

    search = prepare(space(), "iris", SearchOptions(cv=4))
    write_spec(search, tmp_path)
    spec, dataset = read_spec(tmp_path)
    decl = kk.Model.from_dict(spec["declaration"])
    theirs = Search(decl, search.default, dataset, SearchOptions(**spec["options"]),
                    spec["objective"]).folds
    assert [digest(f.x_train, f.y_train, f.x_val, f.y_val) for f in theirs] == \
        [digest(f.x_train, f.y_train, f.x_val, f.y_val) for f in search.folds]


def write_recipe(folder: Path) -> Path:
    recipe = folder / "recipe.py"
    recipe.write_text(
        "import kerakit as kk\nfrom kerakit import hp\ndata = 'iris'\n"
        "model = kk.Model(name='iris_cli', inputs=(4,), preprocess=['standardize'], "
        "blocks=[kk.use('dense_block', units=hp.Choice([4, 8]))], "
        "head=kk.use('classifier', classes=3), epochs=1)\n")
    return recipe


def test_cv_and_a_budget_with_local_workers(tmp_path):
    out = tmp_path / "t"
    result = run_cli("tune", str(write_recipe(tmp_path)), "--workers", "2", "--cv", "2",
                     "--max-trials", "2", "--time-budget", "10m", "--out", str(out), "--json",
                     timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    table = rows(out)
    assert len(table) == 2 and {r["worker"] for r in table} <= {"tuner0", "tuner1"}
    assert all(len(json.loads(r["fold_scores"])) == 2 for r in table)
    assert json.loads((out / SPENT_FILE).read_text())["seconds"] > 0


def test_class_weight_reaches_every_fit_of_the_keras_tuner_engine(tmp_path, fits):
    kk.tune(space(class_weight="balanced"), "iris", max_trials=1, out=tmp_path / "t",
            retrain_best=True, verbose=0)
    assert len(fits) == 2  # the trial and the retrain
    for call in fits:
        assert sorted(call["class_weight"]) == [0, 1, 2]


def test_class_weight_reaches_optuna_trials_and_the_retrain(installed_plugins, tmp_path,
                                                            fits):
    kk.tune(space(class_weight="balanced"), "iris", engine="optuna", max_trials=1, cv=2,
            out=tmp_path / "t", retrain_best=True, verbose=0)
    assert len(fits) == 3  # two folds and the retrain
    for call in fits:
        assert sorted(call["class_weight"]) == [0, 1, 2]


def test_the_cli_passes_fit_settings_and_refuses_a_bad_budget(tmp_path):
    out, recipe = tmp_path / "t", str(write_recipe(tmp_path))
    good, bad = run_cli_batch(
        ["tune", recipe, "--max-trials", "1", "--max-epochs", "1", "--class-weight",
         "balanced", "--no-keep-best", "--out", str(out), "--json"],
        ["tune", recipe, "--time-budget", "soon", "--out", str(tmp_path / "bad")],
        timeout=600)
    assert good.returncode == 0, good.stderr[-3000:]
    best = json.loads((out / "best_declaration.json").read_text())["fit"]
    assert best["class_weight"] == "balanced" and best["keep_best"] is False
    assert bad.returncode != 0 and "Invalid value for argument `time_budget`" in bad.stderr
    assert "Received: time_budget='soon'" in bad.stderr


def test_wilcoxon_prunes_a_clearly_worse_trial_before_its_last_fold(installed_plugins,
                                                                    tmp_path):
    # with seed 0 Optuna's random sampler draws 0.05 first, then 1e-7: a model that cannot
    # learn in five epochs, worse than the first on every fold
    decl = space(optimizer=kk.use("adam", learning_rate=hp.Choice([1e-7, 0.05])),
                 blocks=[kk.use("dense_block", units=8)], epochs=5, seed=0)
    result = kk.tune(decl, "iris", engine="optuna", max_trials=2, cv=5, out=tmp_path / "t",
                     verbose=0)
    first, second = rows(tmp_path / "t")
    assert float(first["optimizer.learning_rate"]) == 0.05 and first["status"] == "COMPLETED"
    assert len(json.loads(first["fold_scores"])) == 5
    assert float(second["optimizer.learning_rate"]) == 1e-7
    assert second["status"] == "PRUNED", second
    assert len(json.loads(second["fold_scores"])) < 5
    assert second["reason"].startswith("pruned after fold")
    assert result.best_hyperparameters["optimizer.learning_rate"] == 0.05


def test_wilcoxon_needs_folds_and_hyperband_refuses_them(installed_plugins, tmp_path):
    with pytest.raises(UsageError, match=r"Invalid value for argument `pruner`. Expected "
                                         r"'wilcoxon' only with cv >= 2.*Received: "
                                         r"pruner='wilcoxon' with cv=None"):
        kk.tune(space(), "iris", engine="optuna", pruner="wilcoxon", out=tmp_path / "t")
    with pytest.raises(UsageError, match=r"Invalid value for argument `cv` with "
                                         r"tuner='hyperband'.*Received: cv=3"):
        kk.tune(space(), "iris", tuner="hyperband", cv=3, out=tmp_path / "t")
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize(("text", "seconds"), [("90", 90.0), ("90s", 90.0), ("20m", 1200.0),
                                               ("1.5h", 5400.0), (45, 45.0)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "-5m", "0", "10d", True])
def test_a_bad_time_budget_is_refused_in_keras_voice(tmp_path, bad):
    with pytest.raises(UsageError, match=r"Invalid value for argument `time_budget`. Expected a "
                                         r"duration > 0 such as '90s', '20m' or '1.5h'.*"
                                         rf"Received: time_budget={bad!r}"):
        kk.tune(space(), "iris", time_budget=bad, out=tmp_path / "t")
    assert not (tmp_path / "t").exists()


def _budget_space(epochs: list[int]) -> kk.Model:
    # the first trial (2 epochs) finishes; the second could train for minutes
    return space(blocks=[kk.use("dense_block", units=8)], epochs=hp.Choice(epochs), seed=0,
                 batch_size=8)


@pytest.mark.parametrize(("engine", "epochs"), [("keras_tuner", [2, 100000]),
                                                ("optuna", [100000, 2])])
def test_a_time_budget_stops_the_search_within_an_epoch(request, tmp_path, monkeypatch,
                                                        engine, epochs):
    if engine == "optuna":
        request.getfixturevalue("installed_plugins")
    budget = 12.0
    ended: list[tuple[str, float]] = []
    real = Search.trial_finished

    def finished(self, row):
        ended.append((row["status"], self.clock.spent()))
        real(self, row)

    monkeypatch.setattr(Search, "trial_finished", finished)
    tuner = "grid" if engine == "keras_tuner" else "random"  # both try the short one first
    result = kk.tune(_budget_space(epochs), "iris", engine=engine, tuner=tuner, max_trials=3,
                     max_epochs=None, time_budget=budget, out=tmp_path / "t",
                     retrain_best=True, verbose=0)
    assert [status for status, _ in ended] == ["COMPLETED", "STOPPED"]
    assert budget <= ended[1][1] <= budget + 3.0  # one epoch of eight rows a batch, and saving
    table = rows(tmp_path / "t")
    assert [r["status"] for r in table] == ["COMPLETED", "STOPPED"]
    assert table[1]["reason"].startswith("time budget spent at epoch")
    assert result.best_hyperparameters["epochs"] == 2
    assert result.best_run is not None and "accuracy" in result.best_run.metrics
    assert json.loads((tmp_path / "t" / SPENT_FILE).read_text())["seconds"] >= budget


@pytest.mark.parametrize("engine", ["keras_tuner", "optuna"])
def test_a_resumed_search_counts_the_time_already_spent(request, tmp_path, engine):
    if engine == "optuna":
        request.getfixturevalue("installed_plugins")
    out = tmp_path / "t"
    common = {"engine": engine, "max_trials": 2, "out": out, "verbose": 0}
    spent = []
    for budget in (0.5, None):  # too short for a trial; then less than the first spent
        with pytest.raises(KerakitError, match="No trial finished within the time budget"):
            kk.tune(space(), "iris", time_budget=budget or spent[-1] * 0.9, **common)
        spent.append(json.loads((out / SPENT_FILE).read_text())["seconds"])
    assert 0.5 <= spent[0] <= spent[1]
    result = kk.tune(space(), "iris", time_budget=spent[1] + 300, **common)
    assert len(result.trials) == 2
    assert "COMPLETED" in {r["status"] for r in result.trials}
    assert json.loads((out / SPENT_FILE).read_text())["seconds"] > spent[1]
