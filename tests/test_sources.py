"""The data layer: a source read once, its facts, the plan made from them, stored splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kerakit as kk
from kerakit.errors import DataError
from kerakit.sources import formats
from kerakit.sources.source import Source


def churn(rows: int = 160, seed: int = 0) -> pd.DataFrame:
    """A string column with a missing value, a number and a two-class target."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "plus", "pro"], rows).astype(object)
    plan[3] = None
    usage = rng.normal(10, 3, rows)
    return pd.DataFrame({"plan": plan, "usage": usage,
                         "left": np.where(usage + rng.normal(0, 1, rows) > 10, "yes", "no")})


@pytest.fixture
def counted_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every CSV read through the formats table, by path."""
    reads: list[str] = []
    real = formats.TABLE_READERS[".csv"]

    def counting(path: Path):
        reads.append(str(path))
        return real(path)

    monkeypatch.setitem(formats.TABLE_READERS, ".csv", counting)
    return reads


def test_the_no_code_train_command_reads_its_table_once(tmp_path, monkeypatch, counted_reads):
    from kerakit.cli import main

    churn().to_csv(tmp_path / "churn.csv", index=False)
    monkeypatch.chdir(tmp_path)
    status = main(["train", "--data", "churn.csv", "--target", "left", "--epochs", "1",
                   "--out", "run"])
    assert status == 0
    assert counted_reads == ["churn.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["churn.csv", "run"]


def test_a_source_answers_its_facts_and_splits_from_one_read(tmp_path, counted_reads):
    churn().to_csv(tmp_path / "churn.csv", index=False)
    source = Source(str(tmp_path / "churn.csv"), "left")
    facts = source.facts()
    assert (facts.kind, facts.task, facts.class_names) == ("table", "classification",
                                                           ("no", "yes"))
    assert facts.columns == {"plan": "categorical", "usage": "numeric"}
    assert facts.rows == 160 and facts.outputs == 1
    data = source.dataset(val_size=0.2)
    assert len(data.x_train) + len(data.x_val) + len(data.x_test) == 160
    assert source.dataset(val_size=0.2) is data  # cached
    overridden = source.with_columns({"usage": "ignore"})
    assert overridden.facts().columns == {"plan": "categorical", "usage": "ignore"}
    assert len(counted_reads) == 1


def test_facts_of_arrays_images_and_registered_datasets():
    x, y = np.zeros((30, 3), "float32"), np.arange(30) % 3
    facts = Source((x, y)).facts()
    assert (facts.kind, facts.task, facts.class_names, facts.input_shape, facts.rows) == \
        ("arrays", "classification", ("0", "1", "2"), (3,), 30)
    digits = Source("digits").facts()
    assert (digits.kind, digits.input_shape, len(digits.class_names)) == \
        ("dataset", (8, 8, 1), 10)
    with pytest.raises(DataError, match="a table needs its target"):
        Source("table.csv").facts()


def test_the_sampler_chooses_the_values_of_a_table_run(tmp_path):
    """A declaration without `columns`, trained on a table: the plan takes the table's columns
    and still the sampler's values, not the defaults."""

    class Seven(kk.Sampler):
        def value(self, name, placeholder):
            return 7 if name == "units" else placeholder.default

    churn().to_csv(tmp_path / "churn.csv", index=False)
    decl = kk.Model(inputs=(None,), blocks=[kk.use("dense_block", units=kk.hp.Int(
        4, 32, default=16, name="units"))], head=kk.use("classifier", classes=2), epochs=1)
    run = kk.fit(decl, str(tmp_path / "churn.csv"), target="left", sampler=Seven(),
                 out=tmp_path / "run", verbose=0)
    assert run.declaration.blocks[0].params["units"] == 7
    assert run.declaration.columns == {"plan": "categorical", "usage": "numeric"}
    widths = {int(w.shape[1]) for w in run.model.weights if len(w.shape) == 2}
    assert 7 in widths and 16 not in widths  # the block's kernel has the sampled width


def test_a_head_with_fewer_classes_than_the_data_is_refused_by_name(tmp_path):
    churn().to_csv(tmp_path / "churn.csv", index=False)
    decl = kk.Model(inputs=(None,), blocks=["dense_block"],
                    head=kk.use("classifier", classes=1), epochs=1)
    with pytest.raises(DataError, match=r"Expected classes=2, one per class of the data "
                                        r"\(no, yes\). Received: classes=1"):
        kk.fit(decl, str(tmp_path / "churn.csv"), target="left", out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_stored_splits_reopen_with_their_types(tmp_path):
    frame = churn()
    source = Source(frame, "left")
    stored = source.save(tmp_path / "data", val_size=0.2)
    reopened = Source.open(stored)
    original, back = source.dataset(val_size=0.2), reopened.dataset()
    pd.testing.assert_frame_equal(original.x_train.reset_index(drop=True), back.x_train)
    np.testing.assert_array_equal(original.y_test, back.y_test)
    assert back.columns == original.columns and back.class_names == original.class_names
    assert reopened.facts().kind == "table"
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no work folder left
    with pytest.raises(DataError, match=r"Expected a data\.json written by kerakit"):
        Source.open(tmp_path / "nothing")


def _image_folder(root: Path, save) -> Path:
    from PIL import Image

    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (8, 8), color=40 * i).save(root / label / f"{i}.png")
    save(Image.new("L", (8, 8)), root / "a" / "odd.png")
    return root


def test_an_image_folder_refuses_tiff_bytes_in_a_png_before_training(tmp_path):
    folder = _image_folder(tmp_path / "images", lambda im, path: im.save(path, format="TIFF"))
    decl = kk.Model(inputs=(8, 8, 1), blocks=["flatten"], head=kk.use("classifier", classes=2),
                    epochs=1)
    with pytest.raises(DataError, match=r"Invalid image '.*odd\.png'\. Expected PNG, JPEG, BMP "
                                         r"or GIF data, which training decodes\. Received: "
                                         r"TIFF data in a \.png file"):
        kk.fit(decl, str(folder), out=tmp_path / "run", verbose=0)
    assert not list(tmp_path.glob(".run.partial*"))


def test_an_image_folder_refuses_images_predict_would_refuse(tmp_path, monkeypatch):
    from PIL import Image

    from kerakit.sources.images import scan_folder

    # Pillow's limit (89.5 megapixels) made small, so the test stays small: 16x16 > 200
    folder = _image_folder(tmp_path / "images",
                           lambda im, path: im.resize((16, 16)).save(path))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200)
    with pytest.raises(DataError, match=r"Refused input image '.*odd\.png': it is too large "
                                         r"to decode safely.*Expected at most 200 pixels"):
        scan_folder(folder)


def test_a_parquet_list_column_is_ignored_with_a_warning_or_refused_by_name(tmp_path):
    from kerakit.sources.tables import analyse_table, encode_frame

    frame = pd.DataFrame({"a": np.arange(30.0), "tags": [[1, 2]] * 30, "y": [0, 1] * 15})
    frame.to_parquet(tmp_path / "t.parquet")
    table = formats.read_table(tmp_path / "t.parquet")
    with pytest.warns(UserWarning, match=r"Column 'tags' of `.*` holds lists or other nested "
                                         r"values .* it is ignored"):
        analysis = analyse_table(table, "y")
    assert analysis.kinds == {"a": "numeric", "tags": "ignore"}
    with pytest.raises(DataError, match=r"Invalid value in categorical column 'tags' of "
                                        r"`data`\. Expected one category per cell\. Received: "
                                        r"ndarray array\(\[1, 2\]\) at row 0"):
        encode_frame(table, {"a": "numeric", "tags": "categorical"})

