"""Your own data: tables, DataFrames, .npz files and image folders, in Python and on the CLI.

Real files in tmp_path; models really train (for a couple of epochs: this
proves the code runs, ``benchmarks/quality.py`` checks that it learns).
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from conftest import cli_env, run_cli
from keras import ops
from PIL import Image

import kerakit as kk
from kerakit.data import split
from kerakit.deploy.predict import format_predictions, predict_file
from kerakit.engine.inputs import fit_inputs
from kerakit.engine.nocode import default_for, write_declaration
from kerakit.errors import ConformanceError, DataError
from kerakit.runs.train import load_data
from kerakit.sources.tables import table_dataset
from kerakit.testing import check_component

SERVE_SCRIPT = r"""
import json, sys
import tensorflow as tf
path, body = sys.argv[1], json.loads(sys.argv[2])
signature = tf.saved_model.load(path).signatures["serving_default"]
specs = signature.structured_input_signature[1]
# TF Serving's row format: each instance names every input; values take the signature's dtype
inputs = {k: tf.constant([row[k] for row in body["instances"]], dtype=spec.dtype)
          for k, spec in specs.items()}
outputs = signature(**inputs)
print(json.dumps({"predictions": {k: v.numpy().tolist() for k, v in outputs.items()},
                  "kerakit_imported": any(m.startswith("kerakit") for m in sys.modules)}))
"""


def penguins(rows: int = 240, seed: int = 0) -> pd.DataFrame:
    """Text categories, a running ID, an integer year, missing numbers and categories."""
    rng = np.random.default_rng(seed)
    species = rng.choice(["Adelie", "Chinstrap", "Gentoo"], rows)
    bill = np.where(species == "Adelie", 39.0, np.where(species == "Gentoo", 47.0, 49.0))
    frame = pd.DataFrame({
        "id": np.arange(rows),
        "island": np.where(species == "Gentoo", "Biscoe", rng.choice(["Dream", "Torgersen"],
                                                                     rows)),
        "bill_length_mm": bill + rng.normal(0, 1.5, rows),
        "sex": rng.choice(["male", "female"], rows).astype(object),
        "year": rng.choice([2007, 2008, 2009], rows),
        "species": species,
    })
    frame.loc[rng.random(rows) < 0.08, "bill_length_mm"] = np.nan
    frame.loc[rng.random(rows) < 0.08, "sex"] = None
    return frame


def small_table_model(head: object, **fields: object) -> kk.Model:
    return kk.Model(kk.Input((None,)), [kk.use("dense_block", units=16)], head, epochs=2,
                    **fields)


@pytest.fixture(scope="module")
def table_run(tmp_path_factory: pytest.TempPathFactory):
    """One CSV trained for two epochs and exported: shared by the table tests."""
    tmp = tmp_path_factory.mktemp("table")
    penguins().to_csv(tmp / "penguins.csv", index=False)
    decl = small_table_model(kk.use("classifier", classes=3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = kk.fit(decl, str(tmp / "penguins.csv"), target="species", out=tmp / "run",
                     verbose=0)
    exported = kk.export(run, tmp / "export")
    return tmp, run, exported, [str(w.message) for w in caught]


# -- tables ---------------------------------------------------------------------------


def test_csv_columns_are_understood_and_encoded_inside_the_model(table_run):
    _, run, _, warned = table_run
    assert run.declaration.columns == {"id": "ignore", "island": "categorical",
                                       "bill_length_mm": "numeric", "sex": "categorical",
                                       "year": "categorical"}
    assert any("'id'" in w and "ignored" in w for w in warned)
    assert sorted(run.model.input) == ["bill_length_mm", "island", "sex", "year"]
    names = [layer.name for layer in run.model.layers]
    assert "island_lookup" in names and "bill_length_mm_standardize" in names
    assert set(run.metrics) == {"accuracy", "loss"}


def test_raw_rows_with_gaps_and_unseen_categories_reload_and_predict(table_run):
    tmp, run, _, _ = table_run
    model = kk.load(tmp / "run")
    rows = {"bill_length_mm": np.array([39.1, np.nan], "float32"),
            "island": keras.ops.convert_to_tensor(np.array(["Dream", "Atlantis"])),
            "sex": keras.ops.convert_to_tensor(np.array(["", "male"])),
            "year": np.array([2007, 2031], "int64")}
    out = model.predict(rows, verbose=0)
    assert out.shape == (2, 3) and np.isfinite(out).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(out, run.model.predict(rows, verbose=0), atol=1e-6)


def test_tf_serving_rows_are_answered_by_serving_default_without_kerakit(table_run):
    _, run, exported, _ = table_run
    rows = [{"island": "Dream", "bill_length_mm": 39.1, "sex": "male", "year": 2007},
            {"island": "Biscoe", "bill_length_mm": 47.5, "sex": "", "year": 2009}]
    result = subprocess.run([sys.executable, "-c", SERVE_SCRIPT, str(exported.path),
                             json.dumps({"instances": rows})],
                            capture_output=True, text=True, env=cli_env(), timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["kerakit_imported"] is False
    direct = run.model.predict({"island": ops.convert_to_tensor(np.array(["Dream", "Biscoe"])),
                                "bill_length_mm": np.array([39.1, 47.5], "float32"),
                                "sex": ops.convert_to_tensor(np.array(["male", ""])),
                                "year": np.array([2007, 2009])}, verbose=0)
    np.testing.assert_allclose(answer["predictions"]["outputs"], direct, atol=1e-5)


def test_predict_reads_rows_by_column_name(table_run, capsys):
    tmp, _, exported, _ = table_run
    rows = tmp / "rows.csv"
    rows.write_text("species,year,sex,island,bill_length_mm,comment\n"
                    "Adelie,2008,female,Dream,38.5,a\nGentoo,2009,,Biscoe,,b\n")
    result = predict_file(exported.path, rows)
    assert result["index"] == [0, 1]
    text = format_predictions(result)
    assert text.splitlines()[0].startswith("row,class,probability,p_Adelie")
    assert "ignoring columns the model does not take: comment, species" in capsys.readouterr().err
    listed = json.loads(format_predictions(result, "json"))
    assert [r["row"] for r in listed] == [0, 1]
    assert {r["class"] for r in listed} <= {"Adelie", "Chinstrap", "Gentoo"}
    (tmp / "short.csv").write_text("island,sex,year\nDream,male,2007\n")
    with pytest.raises(DataError, match="column 'bill_length_mm' is missing"):
        predict_file(exported.path, tmp / "short.csv")


def test_parquet_tsv_and_dataframe_read_alike(tmp_path: Path):
    frame = penguins(60)
    frame.to_parquet(tmp_path / "p.parquet")
    frame.to_csv(tmp_path / "p.tsv", sep="\t", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = [table_dataset(source, "species") for source in
                 (frame, str(tmp_path / "p.parquet"), str(tmp_path / "p.tsv"))]
    for data in found[1:]:
        assert data.columns == found[0].columns
        pd.testing.assert_frame_equal(data.x_train, found[0].x_train)
        np.testing.assert_array_equal(data.y_test, found[0].y_test)
    assert found[0].class_names == ["Adelie", "Chinstrap", "Gentoo"]


def test_column_kinds_can_be_overridden(tmp_path: Path):
    frame = penguins(80)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = table_dataset(frame, "species", columns={"year": "numeric", "sex": "ignore"})
    assert data.columns["year"] == "numeric" and data.columns["sex"] == "ignore"
    assert "sex" not in data.x_train.columns
    assert data.x_train["year"].dtype == np.float32
    with pytest.raises(DataError, match="Invalid `columns` entry 'colour'"):
        table_dataset(frame, "species", columns={"colour": "numeric"})


def test_regression_targets_are_standardised_for_training_and_reported_in_units(
        tmp_path: Path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.choice(["u", "v"], 200)})
    frame["price"] = 1000 + 300 * frame["a"] + rng.normal(0, 10, 200)
    frame["weight"] = 50 + 5 * frame["a"]
    decl = small_table_model(kk.use("regressor", units=2))
    the_plan = kk.plan(decl)
    data = load_data({"table": frame, "target": ["price", "weight"]}, the_plan)
    assert data.task == "regression" and data.y_train.shape[1:] == (2,)
    seen = fit_inputs(the_plan, data)["y"]
    np.testing.assert_allclose(seen.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(seen.std(axis=0), 1, atol=1e-4)
    run = kk.fit(decl, frame, target=["price", "weight"], out=tmp_path / "run", verbose=0)
    units = run.model.get_layer("target_units")
    np.testing.assert_allclose(np.asarray(units.offset), data.y_train.mean(axis=0), rtol=1e-4)
    x_test = {"a": data.x_test["a"].to_numpy(),
              "b": ops.convert_to_tensor(data.x_test["b"].to_numpy().astype(str))}
    predicted = run.model.predict(x_test, verbose=0)
    mae = float(np.abs(predicted - data.y_test).mean())
    assert run.metrics["mean_absolute_error"] == pytest.approx(mae, rel=1e-4)
    reloaded = kk.load(run.dir).predict(x_test, verbose=0)
    np.testing.assert_allclose(reloaded, predicted, rtol=1e-5)


def test_regression_targets_are_shaped_like_the_head_output():
    the_plan = kk.plan(kk.Model((10,), ["dense_block"], kk.use("regressor")))
    data = load_data("diabetes", the_plan)
    assert data.y_train.shape == (len(data.x_train), 1)
    assert fit_inputs(the_plan, data)["y"].shape == (len(data.x_train), 1)


# -- bad tables -------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "target", "message"), [
    ("a,b\n1,x\n2,y\n", "label", r"Invalid target 'label'.*columns of .*: a, b"),
    ("a,label\n1,x\n2,x\n3,x\n", "label", r"Expected at least two classes. Received: one class"),
    ("a,b,label\n" + "".join(f"{i},{i % 2},{i % 2}\n" for i in range(30)) + "oops,1,0\n",
     "label", r"numeric column 'a'.*Received: 'oops' at row 30"),
    ("", "label", r"Received: an empty file"),
    ("a,a,label\n1,2,0\n", "label", r"Expected unique column names. Received: duplicates \['a'\]"),
    ("a,label\n", "label", r"Expected at least one row of data"),
])
def test_bad_tables_are_named(tmp_path: Path, content: str, target: str, message: str):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        table_dataset(str(path), target)


def test_a_table_needs_its_target(tmp_path: Path):
    penguins(30).to_csv(tmp_path / "p.csv", index=False)
    decl = small_table_model(kk.use("classifier", classes=3))
    with pytest.raises(DataError, match="needs its target"):
        kk.fit(decl, str(tmp_path / "p.csv"), out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


# -- labels and splits (string labels; a stray label is named) -------------------------------


def test_string_labels_are_class_names():
    x = np.random.default_rng(0).normal(size=(60, 3)).astype("float32")
    y = np.array(["cat", "dog", "eel"] * 20)
    data = load_data((x, y), kk.plan(kk.Model((3,), ["dense_block"],
                                              kk.use("classifier", classes=3))))
    assert data.class_names == ["cat", "dog", "eel"]
    assert data.y_train.dtype.kind == "i" and set(data.y_train) <= {0, 1, 2}


def test_a_single_out_of_range_label_is_named_before_splitting():
    x = np.zeros((40, 2), "float32")
    y = np.array([0, 1] * 19 + [0, 7])
    decl = kk.Model((2,), ["dense_block"], kk.use("classifier", classes=2))
    with pytest.raises(DataError, match=r"Expected integer class indices in \[0, 1\] for the "
                                        r"classes \['0', '1'\]. Received: label 7 at row 39"):
        load_data((x, y), kk.plan(decl))
    with pytest.raises(DataError, match=r"Expected one of the classes \['a', 'b'\]. "
                                        r"Received: 'c' at row 2"):
        split(x[:3], np.array(["a", "b", "c"]), class_names=["a", "b"])


# -- .npz -----------------------------------------------------------------------------------


def test_npz_files(tmp_path: Path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 4)).astype("float32"), np.arange(50) % 2
    np.savez(tmp_path / "xy.npz", x=x, y=y)
    np.savez(tmp_path / "splits.npz", x_train=x[:30], y_train=y[:30], x_val=x[30:40],
             y_val=y[30:40], x_test=x[40:], y_test=y[40:])
    (tmp_path / "empty.npz").write_bytes(b"")
    np.savez(tmp_path / "other.npz", features=x)
    the_plan = kk.plan(kk.Model((4,), ["dense_block"], kk.use("classifier", classes=2)))
    assert len(load_data(str(tmp_path / "xy.npz"), the_plan).x_test) == 10
    splits = load_data(str(tmp_path / "splits.npz"), the_plan)
    np.testing.assert_array_equal(splits.x_val, x[30:40])
    with pytest.raises(DataError, match=r"empty\.npz"):
        load_data(str(tmp_path / "empty.npz"), the_plan)
    with pytest.raises(DataError, match=r"Expected arrays `x` and `y`.*Received: \['features'\]"):
        load_data(str(tmp_path / "other.npz"), the_plan)


# -- image folders ----------------------------------------------------------------------------


def write_images(root: Path, classes: int = 3, per_class: int = 12, size: int = 8) -> Path:
    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"class_{c}").mkdir(parents=True)
        for i in range(per_class):
            pixels = np.full((size, size), 40 + 80 * c) + rng.integers(0, 30, (size, size))
            Image.fromarray(pixels.astype("uint8"), "L").save(root / f"class_{c}" / f"{i}.png")
    return root


def test_image_folder_trains_with_the_default_cnn(tmp_path: Path):
    root = write_images(tmp_path / "images")
    Image.new("L", (12, 10)).save(root / "class_0" / "odd_size.png")  # resized, not refused
    decl, data = default_for(str(root))
    assert decl.inputs.shape == (None, None, 1)
    assert decl.preprocess[0].params == {"height": 8, "width": 8}
    run = kk.fit(decl, data, epochs=1, out=tmp_path / "run", verbose=0)
    assert run.report and set(run.metrics) == {"accuracy", "loss"}
    big = np.asarray(run.model.predict(np.zeros((1, 16, 16, 1), "float32"), verbose=0))
    assert big.shape == (1, 3)  # the model resizes whatever it is given
    from kerakit.deploy.predict import conform

    signature = {"shape": [None, None, None, 1], "dtype": "float32"}  # as exported
    assert conform(np.zeros((8, 8, 1)), signature).shape == (1, 8, 8, 1)


@pytest.mark.parametrize(("make", "message"), [
    (lambda root: (root / "only").mkdir(parents=True), "no images"),
    (lambda root: write_images(root, classes=1), r"at least two class subfolders"),
    (lambda root: (write_images(root), (root / "class_1" / "bad.png").write_bytes(b"nope")),
     r"Cannot read image '.*class_1/bad.png'"),
])
def test_bad_image_folders_are_named(tmp_path: Path, make, message: str):
    root = tmp_path / "images"
    make(root)
    with pytest.raises(DataError, match=message):
        kk.image_folder(root)


# -- no code ------------------------------------------------------------------------------------


def test_no_code_train_writes_nothing_outside_its_run_directory(tmp_path: Path):
    penguins(120).to_csv(tmp_path / "p.csv", index=False)
    result = run_cli("train", "--data", "p.csv", "--target", "species", "--epochs", "2",
                     "--out", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "default declaration for" in result.stdout and "test: accuracy=" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv", "run"]
    recorded = json.loads((tmp_path / "run" / "declaration.json").read_text())
    assert recorded["columns"]["island"] == "categorical"
    asked = run_cli("train", "--data", "p.csv", "--target", "species",
                    "--write-recipe", "declaration.json", cwd=tmp_path)
    assert asked.returncode == 0, asked.stderr[-2000:]
    written = json.loads((tmp_path / "declaration.json").read_text())
    assert written["data"] == {"table": "p.csv", "target": "species"}
    assert written["columns"] == recorded["columns"]


def test_default_written_as_a_python_recipe_reruns(tmp_path: Path):
    from kerakit.declaration.recipes import load_recipe

    penguins(60).to_csv(tmp_path / "p.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        decl, data = default_for(str(tmp_path / "p.csv"), "species")
    path = write_declaration(decl, data, tmp_path / "recipe.py")
    loaded, loaded_data = load_recipe(str(path))
    assert loaded == decl and loaded_data == data.reference
    assert loaded.hyperparameters()  # the default's search space, for kerakit tune
    with pytest.raises(FileExistsError):
        write_declaration(decl, data, path)


def test_a_small_table_gets_a_compact_weight_decayed_default(tmp_path: Path):
    from kerakit.declaration.defaults import SMALL_TABLE_ROWS

    penguins(SMALL_TABLE_ROWS - 1).to_csv(tmp_path / "small.csv", index=False)
    penguins(SMALL_TABLE_ROWS).to_csv(tmp_path / "large.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        small, _ = default_for(str(tmp_path / "small.csv"), "species")
        large, _ = default_for(str(tmp_path / "large.csv"), "species")
    assert [b.name for b in small.blocks] == ["dense_block"]
    assert small.head.params["kernel_regularizer"]["config"] == {"l2": 0.003}
    assert [b.name for b in large.blocks] == ["dense_block", "dense_block"]
    assert "kernel_regularizer" not in large.head.params
    frame = penguins(SMALL_TABLE_ROWS - 1).drop(columns="species")
    model = kk.build(small, adapt_data=frame)  # the decay reaches the built head
    head = model.get_layer(index=-1)
    assert type(head.kernel_regularizer).__name__ == "L2"


# -- JAX ------------------------------------------------------------------------------------------


JAX_SCRIPT = r"""
import sys, numpy as np, pandas as pd, kerakit as kk
rng = np.random.default_rng(0)
frame = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120)})
frame.loc[::7, "a"] = np.nan
frame["y"] = np.where(frame["b"] > 0, "pos", "neg")
decl = kk.Model(kk.Input((None,)), ["dense_block"], kk.use("classifier", classes=2), epochs=1)
run = kk.fit(decl, frame, target="y", out=sys.argv[1] + "/run", verbose=0)
out = kk.load(sys.argv[1] + "/run").predict(
    {"a": np.array([np.nan], "float32"), "b": np.array([1.0], "float32")}, verbose=0)
frame["c"] = rng.choice(["x", "z"], 120)
try:
    kk.fit(decl, frame, target="y", out=sys.argv[1] + "/run2", verbose=0)
    refused = ""
except kk.DataError as exc:
    refused = str(exc)
import keras, os
print(keras.backend.backend(), out.shape, bool(np.isfinite(out).all()),
      "TensorFlow backend" in refused, os.path.exists(sys.argv[1] + "/run2"))
"""


def test_numeric_tables_train_on_jax_and_categories_are_refused_clearly(tmp_path: Path):
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT, str(tmp_path)],
                            capture_output=True, text=True, timeout=300,
                            env=cli_env(KERAS_BACKEND="jax"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-6:] == ["jax", "(1,", "2)", "True", "True", "False"]


# -- conformance: losses and caller-given parameters --------------------------------------


class BroadcastingL1(keras.losses.Loss):
    """y_true (n,) against y_pred (n, 1) broadcasts to (n, n): the bug the kit must catch."""

    def call(self, y_true, y_pred):
        return ops.abs(y_true - y_pred)


class Upside(keras.losses.Loss):
    """Rewards distance from the target."""

    def call(self, y_true, y_pred):
        return -ops.abs(ops.reshape(y_true, ops.shape(y_pred)) - y_pred)


@pytest.fixture
def local_components():
    """Components registered by the test, removed afterwards."""
    from kerakit.registry.discovery import current_registry

    try:
        yield kk.register_component
    finally:
        current_registry().remove_plugin("local")


def test_conformance_catches_rank_broadcasting_and_losses_not_minimal_at_the_target(
        local_components):
    local_components("losses", "broadcasting_l1_fixture", BroadcastingL1)
    local_components("losses", "upside_fixture", Upside)
    with pytest.raises(ConformanceError, match=r"targets shaped \(n,\) and \(n, 1\)"):
        check_component("broadcasting_l1_fixture", "losses", fresh_process=False)
    with pytest.raises(ConformanceError, match="minimal where y_pred == y_true"):
        check_component("upside_fixture", "losses", fresh_process=False)
    for name in ("mse", "sparse_categorical_crossentropy", "binary_crossentropy"):
        check_component(name, "losses", fresh_process=False)


class NeedsWidth(keras.layers.Layer):
    """A third-party layer with a required argument and no ``example`` metadata."""

    def __init__(self, width, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.dense = keras.layers.Dense(width)

    def call(self, x):
        return self.dense(x)

    def get_config(self):
        return {**super().get_config(), "width": self.width}


def test_check_component_takes_params_and_input_shape_from_the_caller(local_components):
    local_components("blocks", "needs_width_fixture", NeedsWidth)
    with pytest.raises(ConformanceError, match="builds with defaults"):
        check_component("needs_width_fixture", "blocks", fresh_process=False)
    check_component("needs_width_fixture", "blocks", params={"width": 3}, input_shape=(5,),
                    fresh_process=False)
