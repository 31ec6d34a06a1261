"""The model card: real runs and their exports, the runs' data records, no invented facts."""

from __future__ import annotations

import json
import re

import keras
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

import kerakit as kk
from kerakit.declaration.defaults import digits_cnn
from kerakit.deploy.exporting import MANIFEST, export
from kerakit.deploy.model_card import CURVES, MODEL_CARD, UNKNOWN, write_model_card
from kerakit.runs.rundir import RUN_LAYOUT

# user-provided names that Markdown or HTML would take for syntax
SPECIES = np.array(["se|tosa", "<versicolor>", "vir`ginica"])


def table_frame() -> pd.DataFrame:
    frame = load_iris(as_frame=True).frame
    frame["species"] = SPECIES[frame.pop("target")]
    frame["island"] = np.random.default_rng(0).choice(["Biscoe", "Dream", "Torgersen"],
                                                      len(frame))
    return frame


def card_of(run_dir, tmp_path_factory, name: str) -> tuple[str, dict, object]:
    """Export the run as a SavedModel, then write a card from its manifest elsewhere."""
    exported = export(run_dir, tmp_path_factory.mktemp("exports") / name)
    manifest = json.loads((exported.path / MANIFEST).read_text())
    directory = tmp_path_factory.mktemp("cards")
    write_model_card(directory, manifest, run_dir)
    return (directory / MODEL_CARD).read_text(), manifest, directory


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    run = kk.fit(digits_cnn(), "digits", epochs=1, out=tmp_path_factory.mktemp("runs") / "d",
                 verbose=0)
    return run, *card_of(run.dir, tmp_path_factory, "digits")


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    decl = kk.Model((None,), [kk.use("dense_block", units=8)], kk.use("classifier", classes=3),
                    name="penguins", epochs=2)
    run = kk.fit(decl, table_frame(), target="species",
                 out=tmp_path_factory.mktemp("runs") / "t", verbose=0)
    return run, *card_of(run.dir, tmp_path_factory, "table")


def run_record(run, name: str) -> dict:
    return json.loads((run.dir / name).read_text())


def table_rows(card: str) -> list[list[str]]:
    """Every table line's cells, split on the pipes that are not escaped."""
    return [re.split(r"(?<!\\)\|", line)[1:-1] for line in card.splitlines()
            if line.startswith("|")]


def test_run_manifest_records_the_data_a_table_run_trained_on(table):
    run, *_ = table
    data = run_record(run, RUN_LAYOUT.manifest)["data"]
    assert data["source"] == "data" and data["targets"] == ["species"]
    assert sum(data["rows"].values()) == len(table_frame())
    test_rows = sum(map(sum, run_record(run, RUN_LAYOUT.metrics)["confusion_matrix"]))
    assert data["rows"]["test"] == test_rows
    columns = {c["name"]: (c["kind"], c["vocabulary"]) for c in data["columns"]}
    assert columns == {"sepal length (cm)": ("numeric", None),
                       "sepal width (cm)": ("numeric", None),
                       "petal length (cm)": ("numeric", None),
                       "petal width (cm)": ("numeric", None), "island": ("categorical", 3)}


def test_table_card_names_columns_classes_metrics_matrix_and_split(table):
    run, card, *_ = table
    assert "| `island` | categorical | 3 categories |" in card
    assert "| `petal width (cm)` | numeric | n/a |" in card
    metrics = run_record(run, RUN_LAYOUT.metrics)
    spans = {"se|tosa": "`se\\|tosa`", "<versicolor>": "`<versicolor>`",
             "vir`ginica": "``vir`ginica``"}  # escaped for a table cell, fenced past a backtick
    labels = [spans[name] for name in metrics["class_names"]]
    assert sorted(metrics["class_names"]) == sorted(SPECIES)
    assert f"| Classes | 3: {', '.join(labels)} |" in card
    for name, value in run.metrics.items():
        assert f"| `{name}` | {value:.4f} |" in card
    for label, counts in zip(labels, metrics["confusion_matrix"], strict=True):
        assert f"| {label} | {' | '.join(map(str, counts))} |" in card
    rows = run_record(run, RUN_LAYOUT.manifest)["data"]["rows"]
    for part in ("train", "validation", "test"):
        assert f"| {part.capitalize()} rows | {rows[part]} |" in card
    assert "| Format | `saved_model` |" in card and "| Epochs run | 2 of 2 |" in card
    assert "| Best epoch |" in card and "| Batch size | 32 |" in card


def test_names_holding_markdown_do_not_break_a_table(table):
    _, card, *_ = table
    assert card.startswith("# Model card: `penguins`")
    widths: list[int] = []
    for line in [*card.splitlines(), ""]:
        if line.startswith("|"):
            widths.append(len(table_rows(line)[0]))
        elif widths:
            assert len(set(widths)) == 1, widths  # every row as wide as the header
            widths = []


def test_digits_card_and_its_curves(digits):
    run, card, _, directory = digits
    assert card.startswith("# Model card: `digits_cnn`")
    assert "An image of 8 by 8 pixels, 1 channel" in card
    assert "10: `0`, `1`, `2`" in card and "| Source | `digits` |" in card
    assert f"| `accuracy` | {run.metrics['accuracy']:.4f} |" in card
    matrix = run.report["confusion_matrix"]
    assert f"| `3` | {' | '.join(map(str, matrix[3]))} |" in card
    data = run_record(run, RUN_LAYOUT.manifest)["data"]
    assert data["columns"] is None and sum(data["rows"].values()) == 1797
    assert f"| Test rows | {data['rows']['test']} |" in card and "| All rows | 1797 |" in card
    assert "![Training curves](curves.png)" in card
    assert (directory / CURVES).read_bytes() == (run.dir / RUN_LAYOUT.curves).read_bytes()
    assert "| `kerakit` | `kerakit` |" in card and f"| Keras | `{keras.__version__}` |" in card
    assert "`conv_block(filters=32, convs=2)`" in card
    assert "| Largest difference from the Keras model |" in card
    assert "## Intended use and limits" in card


def test_a_plain_keras_model_without_a_run_says_unknown(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(np.zeros((8, 4)), np.zeros(8), verbose=0)
    exported = export(model, tmp_path / "exp")
    manifest = json.loads((exported.path / MANIFEST).read_text())
    (tmp_path / "card").mkdir()
    write_model_card(tmp_path / "card", manifest, None)
    card = (tmp_path / "card" / MODEL_CARD).read_text()
    assert not (tmp_path / "card" / CURVES).exists()
    for line in (f"# Model card: {UNKNOWN}", f"| Task | {UNKNOWN} |", f"| Source | {UNKNOWN} |",
                 f"| Train rows | {UNKNOWN} |", f"## Test metrics\n\n{UNKNOWN}",
                 f"## Training curves\n\n{UNKNOWN}", f"| Blocks | {UNKNOWN} |",
                 f"| Epochs run | {UNKNOWN} |", f"| Seed | {UNKNOWN} |"):
        assert line in card
    assert "Classes" not in card and "Confusion matrix" not in card
    assert "A vector of 4 features" in card  # what the model itself tells is still said


def test_a_regression_run_records_and_shows_its_residuals(tmp_path):
    frame = table_frame().drop(columns="species")
    decl = kk.Model((None,), [kk.use("dense_block", units=8)], kk.use("regressor"), epochs=1)
    run = kk.fit(decl, frame, target="petal width (cm)", out=tmp_path / "r", verbose=0)
    residuals = run_record(run, RUN_LAYOUT.metrics)["residuals"]
    assert len(residuals) == 1 and residuals[0]["max_abs"] >= residuals[0]["median_abs"] >= 0
    manifest = {"format": "keras", "task": "regression", "test_metrics": run.metrics,
                "declaration": run.declaration.to_dict(), "verified_max_abs_diff": 0.0}
    write_model_card(tmp_path, manifest, run.dir)
    card = (tmp_path / MODEL_CARD).read_text()
    assert "| Targets | `petal width (cm)` |" in card and "### Residuals" in card
    assert f"| `petal width (cm)` | {residuals[0]['mean']:.4f} |" in card
