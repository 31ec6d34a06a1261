"""ONNX and LiteRT exports: verified in a runtime-only process, refused when they differ."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import run_cli
from sklearn.datasets import load_iris

import kerakit as kk
from kerakit.deploy import runtime_formats, runtimes
from kerakit.deploy.export_files import MANIFEST
from kerakit.deploy.exporting import export
from kerakit.deploy.predict import predict, predict_file
from kerakit.engine.builder import inference_model
from kerakit.errors import ExportError

DIGITS = kk.Model(
    name="digits_lite",
    inputs=(8, 8, 1),
    preprocess=["standardize"],
    augment=[kk.use("gaussian_noise", stddev=0.5)],  # must not reach the export
    # a model that has learned: quantization is checked by agreement of the predicted class,
    # which a barely trained model (near-equal probabilities) cannot keep
    blocks=[kk.use("conv_block", filters=16), "flatten", kk.use("dense_block", units=32)],
    head=kk.use("classifier", classes=10),
    epochs=8,
)

RUNTIME_ONLY = r"""
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import runtimes
x = np.load(sys.argv[4])
out = runtimes.open_runtime(sys.argv[2], sys.argv[3])(x)
print(json.dumps({"argmax": out.argmax(1).tolist(),
                  "heavy": sorted(m for m in ("tensorflow", "keras", "kerakit", "jax", "torch")
                                  if m in sys.modules)}))
"""


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    return kk.fit(DIGITS, "digits", out=tmp_path_factory.mktemp("runs") / "d", verbose=0)


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    frame = load_iris(as_frame=True).frame.rename(columns={"target": "species"})
    frame["species"] = frame["species"].map({0: "setosa", 1: "versicolor", 2: "virginica"})
    folder = tmp_path_factory.mktemp("iris")
    frame.to_csv(folder / "iris.csv", index=False)
    # trained long enough to be sure of its classes: int8 must agree on all 30 test rows
    run = kk.fit(table_model(epochs=60), str(folder / "iris.csv"), target="species",
                 out=folder / "run", verbose=0)
    return run, frame


def table_model(**fields: object) -> kk.Model:
    return kk.Model(kk.Input((None,)), [kk.use("dense_block", units=16)],
                    kk.use("classifier", classes=3), **fields)


def digits_x(n: int = 40) -> np.ndarray:
    return kk.get_component("datasets", "digits").create().x_test[:n]


@pytest.mark.parametrize("quantize", ["none", "float16", "dynamic", "int8"])
def test_litert_export_is_checked_on_the_runs_test_rows(digits_run, tmp_path, quantize):
    result = export(digits_run, tmp_path / "lite", format="litert", quantize=quantize)
    manifest = json.loads((result.path / MANIFEST).read_text())
    check = manifest["verification"]
    assert manifest["format"] == "litert" and manifest["quantization"] == quantize
    assert check["runtime"] == "ai_edge_litert" and check["rows_labelled"] is True
    assert check["rows"] == len(kk.get_component("datasets", "digits").create().x_test)
    if quantize in ("none", "float16"):
        assert check["max_abs_diff"] <= {"none": 1e-5, "float16": 1e-2}[quantize]
    else:
        assert check["agreement"] >= 0.99
        assert abs(check["metric_export"] - check["metric_float"]) <= 0.01
        assert check["metric_float"] == pytest.approx(digits_run.metrics["accuracy"], abs=1e-6)
    assert sorted(p.name for p in result.path.iterdir()) == sorted(
        [".kerakit.json", MANIFEST, "MODEL_CARD.md", "curves.png", "model.tflite"])
    expected = inference_model(digits_run.model).predict(digits_x(), verbose=0)
    got = predict(result.path / "model.tflite", digits_x())["outputs"]
    assert np.mean(got.argmax(1) == expected.argmax(1)) >= 0.95


def test_runtime_exports_run_where_neither_tensorflow_nor_keras_is_imported(digits_run,
                                                                           tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, digits_x())
    expected = inference_model(digits_run.model).predict(digits_x(), verbose=0).argmax(1)
    folder = str(runtimes.__file__).rsplit("/", 1)[0]
    for format, file in (("litert", "model.tflite"), ("onnx", "model.onnx")):
        target = export(digits_run, tmp_path / format, format=format).path
        out = subprocess.run([sys.executable, "-c", RUNTIME_ONLY, folder, format,
                              str(target / file), str(x)], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout.strip().splitlines()[-1])
        assert report["heavy"] == []
        assert report["argmax"] == expected.tolist()


def test_the_embedded_default_exports_to_onnx_and_predicts_through_onnxruntime(tmp_path):
    from kerakit.declaration.defaults import digits_cnn

    run = kk.fit(digits_cnn().replace(epochs=2), "digits", out=tmp_path / "run", verbose=0)
    x = tmp_path / "x.npy"
    np.save(x, digits_x(8))
    out = run_cli("export", str(run.dir), "--format", "onnx", "--out", str(tmp_path / "onnx"),
                  "--json")
    assert out.returncode == 0, out.stderr
    check = json.loads(out.stdout)["verification"]
    assert check["runtime"] == "onnxruntime" and check["max_abs_diff"] <= 1e-5
    assert check["rows"] == 360 and check["rows_labelled"] is True
    out = run_cli("predict", str(tmp_path / "onnx" / "model.onnx"), str(x), "--json")
    assert out.returncode == 0, out.stderr
    expected = inference_model(run.model).predict(digits_x(8), verbose=0)
    got = np.array([[r[f"p_{i}"] for i in range(10)] for r in json.loads(out.stdout)])
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_a_runtime_file_that_answers_differently_is_never_put_in_place(digits_run, tmp_path,
                                                                        monkeypatch):
    other = kk.fit(DIGITS.replace(epochs=1, seed=7), "digits", out=tmp_path / "other",
                   verbose=0)
    write = runtime_formats.write_archive
    # the file is converted from another model: what the runtime answers is not the model
    monkeypatch.setattr(runtime_formats, "write_archive",
                        lambda model, manifest, directory: write(
                            inference_model(other.model), manifest, directory))
    for format, quantize, why in (("onnx", "none", "differs from model.predict"),
                                  ("litert", "none", "differs from model.predict"),
                                  ("litert", "int8", "agrees on")):
        with pytest.raises(ExportError, match=why):
            export(digits_run, tmp_path / f"{format}-{quantize}", format=format,
                   quantize=quantize)
        assert not (tmp_path / f"{format}-{quantize}").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other"]  # no temporary left


@pytest.mark.parametrize("format,file", [("onnx", "model.onnx"), ("litert", "model.tflite")])
def test_a_tampered_runtime_file_is_refused(digits_run, tmp_path, format, file):
    target = export(digits_run, tmp_path / "e", format=format).path
    data = bytearray((target / file).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (target / file).write_bytes(bytes(data))
    with pytest.raises(ExportError, match=rf"altered: \['{file}'\]"):
        predict(target, digits_x(2))
    (target / file).write_bytes(bytes(data[:len(data) // 2]) + b"x")  # the size changed too
    with pytest.raises(ExportError, match="no file was read"):
        predict(target, digits_x(2))


def test_serve_refuses_a_runtime_export_and_says_what_runs_it(digits_run, tmp_path):
    from kerakit.deploy.served import open_models

    target = export(digits_run, tmp_path / "lite", format="litert").path
    with pytest.raises(ExportError, match=r"is a litert export\. Expected a SavedModel"):
        open_models({"lite": target}, load=False)


def test_a_numeric_table_exports_to_onnx_and_litert_with_its_test_rows(iris_run, tmp_path):
    run, frame = iris_run
    rows = tmp_path / "rows.csv"
    frame.drop(columns="species").head(30).to_csv(rows, index=False)
    answers = {}
    for format, quantize in (("onnx", "none"), ("litert", "none"), ("litert", "int8")):
        result = export(run, tmp_path / f"{format}-{quantize}", format=format,
                        quantize=quantize)
        check = result.manifest["verification"]
        assert check["rows_labelled"] is True and check["rows"] == 30  # the test split
        answers[format, quantize] = predict_file(result.path, rows)["outputs"].argmax(1)
    saved = predict_file(export(run, tmp_path / "sm").path, rows)["outputs"].argmax(1)
    assert (answers["onnx", "none"] == saved).all()
    assert (answers["litert", "none"] == saved).all()
    assert np.mean(answers["litert", "int8"] == saved) >= 0.9


def test_text_columns_are_refused_by_name_and_pointed_to_saved_model(tmp_path):
    frame = load_iris(as_frame=True).frame.rename(columns={"target": "species"})
    frame["island"] = np.array(["Biscoe", "Dream", "Torgersen"])[np.arange(150) % 3]
    run = kk.fit(table_model(epochs=1), frame, target="species", out=tmp_path / "run",
                 verbose=0)
    for format in ("onnx", "litert"):
        with pytest.raises(ExportError, match=r"columns \['island'\] are categories.*saved_model"):
            export(run, tmp_path / format, format=format)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_int8_needs_data_to_calibrate_and_options_are_checked(digits_run, tmp_path):
    model = digits_run.model  # a bare model: no run, no data recorded
    with pytest.raises(ExportError, match="Cannot calibrate an int8 export"):
        export(model, tmp_path / "a", format="litert", quantize="int8")
    with pytest.raises(ExportError, match="Expected quantize='none'"):
        export(digits_run, tmp_path / "b", format="onnx", quantize="int8")
    with pytest.raises(ExportError, match="Expected it with quantize='int8'"):
        export(digits_run, tmp_path / "c", format="litert", int8_io=True)
    for format, path in (("saved_model", "s"), ("keras", "k.keras")):  # never ignored
        with pytest.raises(ExportError, match="Expected quantize='none'"):
            export(digits_run, tmp_path / path, format=format, quantize="int8")
    with pytest.raises(ExportError, match="Expected one of: none, dynamic"):
        export(digits_run, tmp_path / "d", format="litert", quantize="int4")
    with pytest.raises(ExportError, match=r"Expected a directory .*ending in '\.tflite'"):
        export(digits_run, tmp_path / "m.tflite", format="litert")
    result = export(model, tmp_path / "e", format="litert", quantize="int8", data="digits")
    assert result.manifest["verification"]["rows_labelled"] is True


def test_a_missing_runtime_names_the_extra(digits_run, tmp_path, monkeypatch):
    find = importlib.util.find_spec
    # the runtime is installed here; this is how it looks where it is not
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ai_edge_litert" else find(name, *a))
    with pytest.raises(ExportError, match=r"pip install 'kerakit\[litert\]'"):
        export(digits_run, tmp_path / "lite", format="litert")


def test_cli_exports_int8_with_integer_io_and_predicts_through_litert(digits_run, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, digits_x(5))
    out = run_cli("export", str(digits_run.dir), "--format", "litert", "--quantize", "int8",
                  "--int8-io", "--out", str(tmp_path / "lite"), "--json")
    assert out.returncode == 0, out.stderr
    manifest = json.loads(out.stdout)
    assert manifest["int8_io"] is True and manifest["verification"]["agreement"] >= 0.99
    out = run_cli("predict", str(tmp_path / "lite" / "model.tflite"), str(x), "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    expected = inference_model(digits_run.model).predict(digits_x(5), verbose=0).argmax(1)
    assert [r["class"] for r in rows] == [str(i) for i in expected]


def test_an_image_folder_run_is_checked_on_its_own_test_images(tmp_path):
    from test_data_inputs import write_images

    from kerakit.deploy.export_job import held_out
    from kerakit.engine.nocode import default_for

    decl, data = default_for(str(write_images(tmp_path / "images", per_class=20)))
    run = kk.fit(decl, data, epochs=2, out=tmp_path / "run", verbose=0)
    info = {"manifest": json.loads((run.dir / "manifest.json").read_text()),
            "declaration": run.declaration.to_dict()}
    rows = held_out(info, None, inference_model(run.model))  # re-read from the folder
    assert rows.x_test.shape[1:] == (8, 8, 1) and len(rows.x_test) == len(rows.y_test) == 12
    # every training image: fewer than the 500 an int8 export calibrates on
    assert len(rows.x_train) == info["manifest"]["data"]["rows"]["train"] == 39
    for format in ("litert", "onnx"):
        check = export(run, tmp_path / format, format=format).manifest["verification"]
        assert check["rows"] == 12 and check["rows_labelled"] is True
        assert check["max_abs_diff"] <= 1e-5
