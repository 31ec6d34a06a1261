"""Export: verified SavedModels without augmentation, atomic writes, predict, bad input."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import cli_env, run_cli, run_cli_batch

import kerakit as kk
from kerakit.deploy.exporting import MANIFEST, check_hashes, export
from kerakit.deploy.predict import predict
from kerakit.engine.builder import inference_model
from kerakit.errors import ExportError


def digits_decl(**changes) -> kk.Model:
    decl = kk.Model(
        name="digits_small",
        inputs=(8, 8, 1),
        preprocess=["standardize"],
        # strong augmentation: if it leaked into the export, two serve calls would differ
        augment=[kk.use("random_rotation", factor=0.5), kk.use("gaussian_noise", stddev=1.0)],
        blocks=[kk.use("conv_block", filters=8), "global_avg_pool"],
        head=kk.use("classifier", classes=10, class_names=[f"digit{i}" for i in range(10)]),
        epochs=2,
    )
    return decl.replace(**changes) if changes else decl


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    return kk.fit(digits_decl(), "digits", out=tmp_path_factory.mktemp("runs") / "d", verbose=0)


@pytest.fixture(scope="module")
def digits_export(digits_run, tmp_path_factory):
    return export(digits_run, tmp_path_factory.mktemp("exports") / "digits")


def raw_digits(n: int = 20) -> np.ndarray:
    return kk.get_component("datasets", "digits").create().x_test[:n]


def test_saved_model_serves_raw_inputs_like_predict(digits_run, digits_export):
    assert digits_export.max_abs_diff is not None and digits_export.max_abs_diff <= 1e-5
    loaded = tf.saved_model.load(str(digits_export.path))
    on_tf = keras.backend.backend() == "tensorflow"
    expected_signatures = {"serve", "serving_default"} | ({"classify"} if on_tf else set())
    assert set(loaded.signatures) == expected_signatures
    x = raw_digits()
    served = loaded.serve(tf.constant(x))["outputs"].numpy()
    again = loaded.serve(tf.constant(x))["outputs"].numpy()
    np.testing.assert_array_equal(served, again)  # no augmentation at serve time
    expected = inference_model(digits_run.model).predict(x, verbose=0)
    assert np.abs(served - expected).max() <= 1e-5
    # the preprocessing is inside: raw pixels in, the same answer as the trained model gives
    np.testing.assert_array_equal(served.argmax(1), digits_run.model.predict(x, verbose=0)
                                  .argmax(1))
    dynamic = loaded.serve(tf.constant(x[:3]))["outputs"].numpy()
    assert dynamic.shape == (3, 10)
    default = loaded.signatures["serving_default"]
    assert set(default.structured_outputs) == {"outputs"}
    assert "inputs" in default.structured_input_signature[1]
    if on_tf:  # the class-name signature needs TensorFlow string ops
        classified = loaded.classify(tf.constant(x[:2]))
        assert classified["class_name"].numpy()[0].decode().startswith("digit")


def test_export_manifest_describes_the_export(digits_export):
    manifest = json.loads((digits_export.path / MANIFEST).read_text())
    assert manifest["keras"] == keras.__version__ and manifest["tensorflow"] == tf.__version__
    assert manifest["backend"] == keras.backend.backend()
    assert manifest["class_names"][0] == "digit0"
    assert manifest["inputs"] == [{"name": "inputs", "shape": [None, 8, 8, 1],
                                   "dtype": "float32"}]
    assert manifest["outputs"][0]["shape"] == [None, 10]
    assert set(manifest["test_metrics"]) == {"loss", "accuracy"}
    assert manifest["declaration"]["name"] == "digits_small"
    assert {p["name"] for p in manifest["plugins"]} == {"kerakit"}
    assert "saved_model.pb" in manifest["files"] and len(manifest["files"]["saved_model.pb"]) == 64
    check_hashes(digits_export.path)


def test_regression_export_round_trip(tmp_path):
    decl = kk.Model(inputs=(10,), preprocess=["standardize"], blocks=["dense_block"],
                    head="regressor", epochs=2)
    run = kk.fit(decl, "diabetes", out=tmp_path / "run", verbose=0)
    result = export(run.dir, tmp_path / "export")
    x = kk.get_component("datasets", "diabetes").create().x_test[:7]
    out = predict(result.path, x)["outputs"]
    np.testing.assert_allclose(out, run.model.predict(x, verbose=0), atol=1e-5)
    assert "classify" not in tf.saved_model.load(str(result.path)).signatures


def test_plugin_component_export(installed_plugins, tmp_path):
    decl = kk.Model(inputs=(4,), blocks=["dense_block", "good.scale_block"],
                    head=kk.use("classifier", classes=3), epochs=2)
    run = kk.fit(decl, "iris", out=tmp_path / "run", verbose=0)
    result = export(run, tmp_path / "export")
    assert {p["name"] for p in result.manifest["plugins"]} == {"kerakit", "good"}
    assert "good.scale_block" in {c["name"] for c in result.manifest["components"]}
    x = kk.get_component("datasets", "iris").create().x_test
    np.testing.assert_allclose(predict(result.path, x)["outputs"],
                               run.model.predict(x, verbose=0), atol=1e-5)


def test_untrained_model_is_refused(tmp_path):
    model = kk.build(digits_decl())
    with pytest.raises(ExportError, match="untrained"):
        export(model, tmp_path / "export")
    assert not (tmp_path / "export").exists()


def test_bad_targets(digits_run, digits_export, tmp_path):
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(ExportError, match="Expected a directory"):
        export(digits_run, file)
    with pytest.raises(FileExistsError, match="force=True"):
        export(digits_run, digits_export.path)
    with pytest.raises(ExportError, match="Expected one of: saved_model, keras, onnx, litert"):
        export(digits_run, tmp_path / "x", format="tflite")
    with pytest.raises(ExportError, match=r"ending in \.keras"):
        export(digits_run, tmp_path / "model.h5", format="keras")


def test_force_replaces_the_export(digits_run, tmp_path):
    target = tmp_path / "export"
    export(digits_run, target)
    (target / "stale.txt").write_text("from before")
    with pytest.raises(ExportError, match="unexpected"):
        check_hashes(target)
    # a file kerakit did not write is not deleted, even with force: it is listed
    with pytest.raises(FileExistsError, match=r"also holds stale\.txt"):
        export(digits_run, target, force=True)
    assert (target / "stale.txt").read_text() == "from before"
    (target / "stale.txt").unlink()
    (target / "saved_model.pb").write_bytes(b"altered")  # kerakit's own files may be replaced
    export(digits_run, target, force=True)
    assert not (target / "stale.txt").exists()
    check_hashes(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def test_keras_format_export(digits_run, tmp_path):
    result = export(digits_run, tmp_path / "model.keras", format="keras")
    reloaded = kk.load(result.path)
    assert not [layer for layer in reloaded.layers if layer.name.startswith("augment_")]
    assert result.max_abs_diff is not None and result.max_abs_diff <= 1e-5


KILL_SCRIPT = """
import sys
from kerakit.deploy.exporting import export
export(sys.argv[1], sys.argv[2], force=True)
"""


@pytest.mark.parametrize("previous", [False, True], ids=["fresh", "replacing"])
def test_an_export_killed_mid_write_leaves_no_half_export(digits_run, tmp_path, previous):
    target = tmp_path / "export"
    before = None
    if previous:
        export(digits_run, target)
        before = check_hashes(target)["files"]
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(digits_run.dir), str(target)],
                            env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob(".export.tmp-*/saved_model.pb")):
        time.sleep(0.05)
    assert list(tmp_path.glob(".export.tmp-*")), "the export never started writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if previous:
        assert check_hashes(target)["files"] == before
    else:
        assert not target.exists()
    export(digits_run, target, force=True)  # cleans the leftovers, then succeeds
    assert [p.name for p in tmp_path.iterdir()] == ["export"]


def test_predict_cli_formats_and_input_kinds(digits_export, tmp_path):
    x = raw_digits(4)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "x.npz", x=x)
    np.savetxt(tmp_path / "x.csv", x.reshape(4, -1), delimiter=",",
               header=",".join(f"px{i}" for i in range(64)), comments="")
    from PIL import Image

    Image.fromarray(x[0, :, :, 0].astype("uint8")).save(tmp_path / "x.png")
    export_dir = str(digits_export.path)
    csv_out, as_json, from_csv, image = run_cli_batch(
        ["predict", export_dir, str(tmp_path / "x.npy")],
        ["predict", export_dir, str(tmp_path / "x.npz"), "--json"],
        ["predict", export_dir, str(tmp_path / "x.csv"), "--out", str(tmp_path / "p.json")],
        ["predict", export_dir, str(tmp_path / "x.png")])
    assert csv_out.returncode == 0, csv_out.stderr[-2000:]
    lines = csv_out.stdout.strip().splitlines()
    assert lines[0].startswith("class,p_digit0,") and len(lines) == 5
    rows = json.loads(as_json.stdout)
    assert [r["class"] for r in rows] == [line.split(",")[0] for line in lines[1:]]
    assert from_csv.returncode == 0 and len(json.loads((tmp_path / "p.json").read_text())) == 4
    assert image.returncode == 0 and len(image.stdout.strip().splitlines()) == 2


def test_predict_rejects_bad_input_and_altered_exports(digits_run, tmp_path):
    target = tmp_path / "export"
    export(digits_run, target)
    np.save(tmp_path / "wrong.npy", np.zeros((2, 7, 7, 1), "float32"))
    np.save(tmp_path / "text.npy", np.array([["a"] * 64]))
    (tmp_path / "broken.npy").write_bytes(b"not numpy")
    wrong, text, broken = run_cli_batch(
        *(["predict", str(target), str(tmp_path / name)]
          for name in ("wrong.npy", "text.npy", "broken.npy")))
    assert wrong.returncode == 1 and "Expected (batch, 8, 8, 1). Received: (2, 7, 7, 1)" in \
        wrong.stderr
    assert text.returncode == 1 and "Received: dtype <U1" in text.stderr
    assert broken.returncode == 1 and "Cannot read input file" in broken.stderr
    variables = next((target / "variables").glob("*.data-*"))
    data = variables.read_bytes()
    variables.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    altered = run_cli("predict", str(target), str(tmp_path / "wrong.npy"))
    assert altered.returncode == 1 and "altered: ['variables/" in altered.stderr
    variables.unlink()
    missing = run_cli("predict", str(target), str(tmp_path / "wrong.npy"))
    assert missing.returncode == 1 and "Missing: ['variables/" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_export_cli_and_train_export(tmp_path):
    recipe = tmp_path / "recipe.py"
    recipe.write_text(
        "import kerakit as kk\n"
        "model = kk.Model(inputs=(4,), preprocess=['standardize'], blocks=['dense_block'],\n"
        "                 head=kk.use('classifier', classes=3), epochs=2)\n"
        "data = 'iris'\n"
    )
    served = str(tmp_path / "served")
    trained, again, forced = run_cli_batch(
        ["train", str(recipe), "--out", str(tmp_path / "run"), "--export", served],
        ["export", str(tmp_path / "run"), "--out", served],
        ["export", str(tmp_path / "run" / "model.keras"), "--out", served, "--force", "--json"])
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "export:" in trained.stdout
    assert again.returncode == 1 and "--force" in again.stderr
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert json.loads(forced.stdout)["class_names"] == ["setosa", "versicolor", "virginica"]
    check_hashes(tmp_path / "served")  # the forced export is whole
