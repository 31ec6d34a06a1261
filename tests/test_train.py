"""fit(): real training, the run directory, reloading in fresh processes, bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import cli_env

import kerakit as kk
from kerakit.errors import DataError, DeclarationError, MissingPluginError, UnsafeModelError
from kerakit.runs.rundir import RUN_LAYOUT


def iris_decl(**changes) -> kk.Model:
    decl = kk.Model(
        name="iris_mlp",
        inputs=(4,),
        preprocess=["standardize"],
        blocks=[kk.use("dense_block", units=16)],
        head=kk.use("classifier", classes=3),
        optimizer=kk.use("adam", learning_rate=0.02),
        callbacks=[kk.use("early_stopping", patience=5), "csv_logger"],
        epochs=25,
        batch_size=16,
    )
    return decl.replace(**changes) if changes else decl


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    return kk.fit(iris_decl(), "iris", out=tmp_path_factory.mktemp("runs") / "iris", verbose=0)


def test_fit_trains_and_writes_a_complete_run(iris_run):
    run = iris_run
    assert run.metrics["accuracy"] > 0.8
    assert set(run.metrics) == {"loss", "accuracy"}
    assert len(run.history["val_loss"]) == run.epochs_run
    for name in RUN_LAYOUT.files:
        assert (run.dir / name).is_file(), name
    assert (run.dir / "training_log.csv").is_file()  # the csv_logger callback wrote there
    assert not (run.dir / "backup").exists()
    assert not list(run.dir.parent.glob(".*partial"))
    metrics = json.loads((run.dir / "metrics.json").read_text())
    assert metrics["test"] == run.metrics
    assert np.array(metrics["confusion_matrix"]).sum() == 30
    assert set(metrics["classification_report"]) >= {"setosa", "versicolor", "virginica"}
    assert kk.Model.from_json((run.dir / "declaration.json").read_text()) == run.declaration
    manifest = json.loads((run.dir / "manifest.json").read_text())
    assert manifest["keras"] == keras.__version__
    assert manifest["backend"] == keras.backend.backend()
    assert {c["name"] for c in manifest["components"]} >= {
        "kerakit.standardize", "kerakit.dense_block", "kerakit.classifier", "kerakit.adam"}
    assert manifest["plugins"] == [{"name": "kerakit", "distribution": "kerakit",
                                    "version": kk.__version__}]
    history = (run.dir / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,") and len(history) == run.epochs_run + 1


def test_standardisation_statistics_come_from_the_training_split(iris_run):
    data = kk.get_component("datasets", "iris").create()
    layer = iris_run.model.get_layer("preprocess_0_standardize")
    np.testing.assert_allclose(np.asarray(layer.mean).reshape(-1), data.x_train.mean(axis=0),
                               rtol=1e-4)


def test_reload_in_a_fresh_process_predicts_identically(iris_run, tmp_path):
    data = kk.get_component("datasets", "iris").create()
    np.save(tmp_path / "x.npy", data.x_test)
    expected = iris_run.model.predict(data.x_test, verbose=0)
    code = (
        "import sys, numpy as np, kerakit\n"
        f"model = kerakit.load({str(iris_run.dir)!r})\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, model.predict(np.load({str(tmp_path / 'x.npy')!r}),"
        " verbose=0))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=cli_env(), capture_output=True)
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)


def test_plugin_component_reloads_without_imports_and_names_missing_dist(
        installed_plugins, tmp_path):
    decl = iris_decl(blocks=[kk.use("dense_block", units=8), "good.scale_block"],
                     callbacks=[], epochs=2)
    run = kk.fit(decl, "iris", out=tmp_path / "run", verbose=0)
    x = np.random.default_rng(0).random((5, 4)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    code = (
        "import numpy as np, kerakit\n"
        f"model = kerakit.load({str(run.dir / 'model.keras')!r})\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, model.predict(np.load({str(tmp_path / 'x.npy')!r}),"
        " verbose=0))\n"
    )
    ok = subprocess.run([sys.executable, "-c", code], env=cli_env(installed_plugins),
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), run.model.predict(x, verbose=0))
    # the same file where the plugin is not installed
    missing = subprocess.run([sys.executable, "-c", code], env=cli_env(), capture_output=True,
                             text=True)
    assert missing.returncode != 0
    assert "MissingPluginError" in missing.stderr
    assert "good.scale_block" in missing.stderr
    assert "pip install 'kerakit-fixture-good==0.3.1'" in missing.stderr


def test_missing_plugin_error_in_process(tmp_path):
    from kerakit.engine.saving import require_plugins

    with pytest.raises(MissingPluginError, match=r"distribution kerakit-vision 0\.2"):
        require_plugins([{"kind": "blocks", "name": "vision.se_block", "plugin": "vision",
                          "distribution": "kerakit-vision", "version": "0.2"}])


def test_lambda_layers_are_refused(tmp_path):
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs))
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(UnsafeModelError, match="Lambda layer"):
        kk.load(tmp_path / "lambda.keras")


def test_regression_with_sgd_l2_reduce_lr_and_convergence_stop(tmp_path):
    decl = kk.Model(
        inputs=(10,), preprocess=["standardize"],
        blocks=[kk.use("dense_block", units=32, l2=1e-4)], head="regressor",
        loss="mse", optimizer=kk.use("sgd", learning_rate=3e-4, momentum=0.9),
        metrics=["mae", "rmse"],
        callbacks=["reduce_lr_on_plateau", kk.use("convergence_stop", min_delta=1.0, patience=3)],
        epochs=200, batch_size=32,
    )
    run = kk.fit(decl, "diabetes", out=tmp_path / "run", verbose=0)
    assert run.epochs_run < 200  # the convergence stop ended it
    assert set(run.metrics) == {"loss", "mean_absolute_error", "root_mean_squared_error"}
    assert run.metrics["mean_absolute_error"] < 60  # predicting the mean gives about 65
    assert "confusion_matrix" not in json.loads((run.dir / "metrics.json").read_text())


def test_numpy_data_is_split_and_checked(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    decl = iris_decl(head=kk.use("classifier", classes=2), callbacks=[], epochs=3)
    run = kk.fit(decl, (x, y), out=tmp_path / "run", verbose=0)
    assert run.report["confusion_matrix"] and np.array(run.report["confusion_matrix"]).sum() == 60


@pytest.mark.parametrize(("data", "message"), [
    ((np.zeros((50, 5), "float32"), np.zeros(50, "int64")), "Expected samples of shape (4,)"),
    ((np.full((50, 4), np.nan, "float32"), np.zeros(50, "int64")), "Expected finite features"),
    ((np.zeros((50, 4), "float32"), np.full(50, 7)), "Expected integer class indices in [0, 2]"),
    ((np.zeros((0, 4), "float32"), np.zeros(0, "int64")), "Expected at least one sample"),
    ((np.zeros((4, 4), "float32"), np.arange(4) % 3), "Cannot split"),  # one sample per class
    ((np.zeros((10, 4), "float32"), np.zeros(9, "int64")), "as many targets as samples"),
    (42, "Invalid data"),
])
def test_bad_data_fails_before_anything_is_written(tmp_path, data, message):
    with pytest.raises(DataError) as err:
        kk.fit(iris_decl(), data, out=tmp_path / "run", verbose=0)
    assert message in str(err.value)
    assert not list(tmp_path.iterdir())


def test_bad_declaration_fails_before_anything_is_written(tmp_path):
    with pytest.raises(DeclarationError, match=r"blocks\[0\] \(dense_blok\)"):
        kk.fit(iris_decl(blocks=["dense_blok"]), "iris", out=tmp_path / "run")
    with pytest.raises(DeclarationError, match="Did you mean `units`"):
        kk.fit(iris_decl(blocks=[kk.use("dense_block", unit=3)]), "iris", out=tmp_path / "r")
    assert not list(tmp_path.iterdir())


def test_existing_run_is_refused_unless_overwrite(iris_run, tmp_path):
    with pytest.raises(FileExistsError, match="already holds a run"):
        kk.fit(iris_decl(epochs=1), "iris", out=iris_run.dir.parent / "iris")
    target = tmp_path / "run"
    first = kk.fit(iris_decl(epochs=1, callbacks=[]), "iris", out=target, verbose=0)
    second = kk.fit(iris_decl(epochs=2, callbacks=[]), "iris", out=target, overwrite=True,
                    verbose=0)
    assert first.dir == second.dir == target
    assert json.loads((target / "declaration.json").read_text())["fit"]["epochs"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


class Crash(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 2:
            raise RuntimeError("simulated crash")


def test_a_crashed_run_leaves_no_target_and_resumes(tmp_path):
    decl = iris_decl(callbacks=[], epochs=6)
    target = tmp_path / "run"
    with pytest.raises(RuntimeError, match="simulated crash"):
        kk.fit(decl, "iris", out=target, verbose=0, callbacks=[Crash()], backup_every=0)
    assert not target.exists()
    partial = tmp_path / ".run.partial"
    assert (partial / "backup").is_dir()
    run = kk.fit(decl, "iris", out=target, verbose=0, backup_every=0)
    # epoch 2 was backed up before the crash came at its end; 3-5 ran after the resume,
    # and the records count all six
    assert run.epochs_run == 6 and run.resumed_at_epoch == 3
    assert (target / "model.keras").is_file() and not partial.exists()


def test_backups_follow_the_clock(tmp_path):
    from kerakit.runs.backup import TrainingBackup

    saves = []

    class Counting(TrainingBackup):
        def save(self, epochs_done):
            saves.append(epochs_done)
            super().save(epochs_done)

    model = kk.build(iris_decl())
    data = kk.get_component("datasets", "iris").create()
    model.fit(data.x_train, data.y_train, epochs=4, verbose=0,
              callbacks=[Counting(str(tmp_path / "a"), interval=3600)])
    assert saves == []  # a short run never paid for a backup
    model.fit(data.x_train, data.y_train, epochs=3, verbose=0,
              callbacks=[Counting(str(tmp_path / "b"), interval=0)])
    assert saves == [1, 2, 3]


def test_tf_data_pipelines_train_adapt_and_test(tmp_path):
    import tensorflow as tf

    data = kk.get_component("datasets", "iris").create()

    def pipe(x, y):
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(16)

    run = kk.fit(iris_decl(callbacks=[], epochs=3),
                 {"train": pipe(data.x_train, data.y_train), "val": pipe(data.x_val, data.y_val),
                  "test": pipe(data.x_test, data.y_test)}, out=tmp_path / "run", verbose=0)
    assert set(run.metrics) == {"loss", "accuracy"}
    assert np.array(run.report["confusion_matrix"]).sum() == len(data.x_test)
    layer = run.model.get_layer("preprocess_0_standardize")  # adapted on the train pipeline
    np.testing.assert_allclose(np.asarray(layer.mean).reshape(-1), data.x_train.mean(axis=0),
                               rtol=1e-4)
    single = kk.fit(iris_decl(callbacks=[], epochs=2), pipe(data.x_train, data.y_train),
                    out=tmp_path / "single", verbose=0)
    assert len(single.history["val_loss"]) == 2 and single.metrics == {}


def test_tf_data_errors(tmp_path):
    import tensorflow as tf

    x = np.zeros((40, 5), "float32")
    y = np.zeros(40, "int64")
    batched = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    with pytest.raises(DataError, match=r"Expected samples of shape \(4,\)"):
        kk.fit(iris_decl(), batched, out=tmp_path / "a")
    unbatched = tf.data.Dataset.from_tensor_slices((x[:, :4], y))
    with pytest.raises(DataError, match=r"call \.batch\(n\)"):
        kk.fit(iris_decl(), {"train": unbatched, "val": unbatched}, out=tmp_path / "b")
    with pytest.raises(DataError, match="Expected `train` and `val` datasets"):
        kk.fit(iris_decl(), {"train": batched}, out=tmp_path / "c")
    assert not list(tmp_path.iterdir())
