"""Results to trust: the kept best epoch (through kill -9 and resume), cross-validation folds
and runs, class weights, and the classifier report's balanced metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli, wait_for

import kerakit as kk
from kerakit.runs.rundir import partial_dir
from kerakit.sources.folds import fold_datasets, fold_indices

EPOCHS = 16


def noise_splits(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Features with a weak signal and mostly random labels: a wide net overfits within a
    few epochs, so the validation loss has an early minimum and rises after it."""
    rng = np.random.default_rng(seed)

    def part(rows: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(rows, 10)).astype("float32")
        y = ((x[:, 0] + rng.normal(0, 2.0, rows)) > 0).astype("int64")
        return x, y

    return {"train": part(120), "val": part(80), "test": part(80)}


def overfitting_model(**settings) -> kk.Model:
    return kk.Model((10,), [kk.use("dense_block", units=256), kk.use("dense_block", units=256)],
                    kk.use("classifier", classes=2),
                    optimizer=kk.use("adam", learning_rate=0.01), epochs=EPOCHS,
                    batch_size=16, name="noise", **settings)


def val_loss_of(run: kk.Run, data: dict) -> float:
    x, y = data["val"]
    return float(run.model.evaluate(x, y, verbose=0, return_dict=True)["loss"])


@pytest.fixture(scope="module")
def kept_and_last(tmp_path_factory):
    data = noise_splits()
    out = tmp_path_factory.mktemp("keep")
    kept = kk.fit(overfitting_model(), data, out=out / "kept", verbose=0)
    last = kk.fit(overfitting_model(keep_best=False), data, out=out / "last", verbose=0)
    return data, kept, last


def test_a_run_ends_with_its_best_validation_epoch(kept_and_last):
    data, kept, _ = kept_and_last
    losses = kept.history["val_loss"]
    best = int(np.argmin(losses))
    assert best < len(losses) - 3, losses  # the data really overfits after its best epoch
    assert kept.best_epoch == best
    assert val_loss_of(kept, data) == pytest.approx(losses[best], rel=1e-4)
    metrics = json.loads((kept.dir / "metrics.json").read_text())
    assert metrics["best_epoch"] == best and metrics["epochs_run"] == EPOCHS


def test_keep_best_false_keeps_the_last_epoch(kept_and_last):
    data, kept, last = kept_and_last
    losses = last.history["val_loss"]
    assert val_loss_of(last, data) == pytest.approx(losses[-1], rel=1e-4)
    assert kept.metrics["loss"] < last.metrics["loss"]  # the kept epoch also tests better


KILLED_SCRIPT = textwrap.dedent("""
    import sys, time
    import keras
    import kerakit as kk
    sys.path.insert(0, {tests!r})
    from test_trust import noise_splits, overfitting_model

    class Slow(keras.callbacks.Callback):  # leaves time to kill it after its best epoch
        def on_epoch_end(self, epoch, logs=None):
            time.sleep(0.4)

    kk.fit(overfitting_model(), noise_splits(), out=sys.argv[1], verbose=0, backup_every=0,
           callbacks=[Slow()])
""")


def test_the_kept_epoch_survives_kill_and_resume(tmp_path, kept_and_last):
    data, uninterrupted, _ = kept_and_last
    out = tmp_path / "run"
    state = partial_dir(out) / "backup" / "state.json"
    script = KILLED_SCRIPT.format(tests=str(Path(__file__).parent))
    proc = subprocess.Popen([sys.executable, "-c", script, str(out)], stderr=subprocess.PIPE)
    try:
        wait_for(lambda: (state.exists() and json.loads(state.read_text())["epoch"] >= 10)
                 or proc.poll() is not None, 120, "a backup of epoch 10")
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        proc.stderr.close()
    backed_up = json.loads(state.read_text())
    assert backed_up["best"]["epoch"] == uninterrupted.best_epoch  # saved with the backup

    resumed = kk.fit(overfitting_model(), data, out=out, verbose=0, backup_every=0)

    assert resumed.resumed_at_epoch == backed_up["epoch"]
    assert resumed.best_epoch == uninterrupted.best_epoch
    best_loss = resumed.history["val_loss"][resumed.best_epoch]
    assert val_loss_of(resumed, data) == pytest.approx(best_loss, rel=1e-4)
    assert not list(out.glob("backup"))  # the backup, best weights included, is gone


# -- folds ------------------------------------------------------------------------------


def test_folds_are_disjoint_stratified_and_fixed_by_the_seed():
    y = np.array([0] * 60 + [1] * 30 + [2] * 15)
    folds = fold_indices(y, 5, task="classification", seed=3)
    validation = np.concatenate([val for _, val in folds])
    assert sorted(validation.tolist()) == list(range(len(y)))  # each row validates once
    for train, val in folds:
        assert not set(train) & set(val) and len(train) + len(val) == len(y)
        assert np.bincount(y[val]).tolist() == [12, 6, 3]  # every fold keeps the class mix
    again = fold_indices(y, 5, task="classification", seed=3)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    other = fold_indices(y, 5, task="classification", seed=4)
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(folds, other, strict=True))


def test_folds_keep_the_test_split_and_refuse_what_cannot_be_folded():
    data = kk.load_data("iris", kk.Model((4,), ["dense_block"], kk.use("classifier",
                                                                       classes=3)))
    folds = fold_datasets(data, 3)
    assert all(np.array_equal(f.x_test, data.x_test) for f in folds)
    assert sum(len(f.x_val) for f in folds) == len(data.x_train) + len(data.x_val)
    with pytest.raises(kk.UsageError, match="Expected an integer >= 2"):
        fold_datasets(data, 1)
    with pytest.raises(kk.DataError, match="Expected at least 50 training rows of every class"):
        fold_datasets(data, 50)


def test_a_cross_validated_run_reports_every_fold_and_trains_a_final_model(tmp_path):
    decl = kk.Model((4,), [kk.use("dense_block", units=16)], kk.use("classifier", classes=3),
                    epochs=6, name="iris_cv")
    run = kk.fit(decl, "iris", cv=3, out=tmp_path / "run", verbose=0)
    cv = json.loads((run.dir / "metrics.json").read_text())["cv"]
    assert cv["folds"] == 3 and len(cv["per_fold"]) == 3 and len(cv["best_epochs"]) == 3
    scores = [fold["val_accuracy"] for fold in cv["per_fold"]]
    assert cv["mean"]["val_accuracy"] == pytest.approx(np.mean(scores))
    assert cv["std"]["val_accuracy"] == pytest.approx(np.std(scores))
    assert cv["final_epochs"] == max(1, round(float(np.median(np.add(cv["best_epochs"], 1)))))
    assert run.epochs_run == cv["final_epochs"] and "val_loss" not in run.history
    assert set(run.metrics) == {"accuracy", "loss"}  # the held-out test split
    assert "3-fold cross-validation: val_accuracy=" in run.summary()


def test_the_train_command_cross_validates_and_refuses_one_fold(tmp_path):
    from sklearn.datasets import load_iris

    load_iris(as_frame=True).frame.to_csv(tmp_path / "iris.csv", index=False)
    result = run_cli("train", "--data", "iris.csv", "--target", "target", "--cv", "3",
                     "--epochs", "2", "--out", "run", "--json", "--no-keep-best", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    document = json.loads(result.stdout)
    assert document["cv"]["folds"] == 3
    assert json.loads((tmp_path / "run" / "declaration.json").read_text())["fit"]["keep_best"] \
        is False
    refused = run_cli("train", "--data", "iris.csv", "--target", "target", "--cv", "1",
                      cwd=tmp_path)
    assert refused.returncode == 2 and "--cv" in refused.stderr


# -- class weights and the report -----------------------------------------------------------


def rare_positives(rows: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4)).astype("float32")
    y = (x[:, 0] + 0.3 * rng.normal(size=rows) > 1.7).astype("int64")  # about 5% positives
    return x, y


def test_balanced_class_weights_reach_fit(tmp_path, monkeypatch):
    import keras
    from sklearn.utils.class_weight import compute_class_weight

    seen: list[dict] = []
    real_fit = keras.Model.fit

    def recording_fit(self, *args, **kwargs):  # a spy: the real fit still runs
        seen.append(kwargs.get("class_weight"))
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", recording_fit)
    x, y = rare_positives()
    decl = kk.Model((4,), [kk.use("dense_block", units=8)], kk.use("classifier", classes=2),
                    epochs=2, class_weight="balanced")
    run = kk.fit(decl, (x, y), out=tmp_path / "run", verbose=0)
    data = kk.load_data((x, y), decl)
    expected = compute_class_weight("balanced", classes=np.array([0, 1]), y=data.y_train)
    assert seen and seen[-1] == pytest.approx({0: expected[0], 1: expected[1]})
    assert seen[-1][1] > 5 * seen[-1][0]
    assert {"balanced_accuracy", "recall", "roc_auc"} <= set(run.report)
    assert set(run.report["recall"]) == {"0", "1"}


def test_rare_classes_get_a_one_line_suggestion_and_bad_weights_a_clear_error(tmp_path):
    x, y = rare_positives()
    decl = kk.Model((4,), ["dense_block"], kk.use("classifier", classes=2))
    with pytest.warns(UserWarning, match=r"class '1' is \d+\.\d% of the training rows: "
                                         r"consider class_weight='balanced'"):
        kk.load_data((x, y), decl)
    with pytest.raises(kk.DataError, match=r"Expected class names of `data`: 0, 1. "
                                           r"Received: 'yes'"):
        kk.fit(decl.replace(class_weight={"yes": 3.0}), (x, y), epochs=1, verbose=0,
               out=tmp_path / "run")
    assert not list(tmp_path.iterdir())  # refused before anything was written
    with pytest.raises(kk.DeclarationError, match="Invalid `class_weight`"):
        kk.plan(decl.replace(class_weight="often"))
