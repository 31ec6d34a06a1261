"""``kk.Classifier`` and ``kk.Regressor`` in scikit-learn's tools, really trained.

Tiny data (iris, a 60-row table), 2 epochs: the point is that each tool
drives kk.fit correctly, not the accuracy.
"""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import StackingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import kerakit as kk
from kerakit.errors import UsageError


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    return load_iris(return_X_y=True)


def penguins(rows: int = 60) -> tuple[pd.DataFrame, np.ndarray]:
    """A small table with a text column, a numeric one and an empty cell."""
    rng = np.random.default_rng(0)
    island = rng.choice(["Biscoe", "Dream", "Torgersen"], rows)
    length = rng.normal(44, 5, rows) + (island == "Dream") * 6
    frame = pd.DataFrame({"island": island, "bill_length_mm": length,
                          "mass": rng.normal(4200, 300, rows)})
    frame.loc[3, "mass"] = np.nan
    species = np.where(island == "Dream", "Chinstrap", np.where(length > 44, "Gentoo", "Adelie"))
    return frame, species


def test_placeholders_are_parameters_named_with_double_underscores():
    decl = kk.Model((4,), [kk.use("dense_block", units=kk.hp.Choice([8, 16], default=8))],
                    kk.use("classifier", classes=3),
                    optimizer=kk.use("adam", learning_rate=kk.hp.Float(1e-3, 1e-1, log=True,
                                                                       default=1e-2)))
    params = kk.Classifier(decl).get_params()
    assert params["blocks__0__units"] == 8
    assert params["optimizer__learning_rate"] == 1e-2
    assert kk.Classifier(decl, blocks__0__units=16).get_params()["blocks__0__units"] == 16
    # the default declaration's, known before any data is seen
    assert {"blocks__0__units", "blocks__0__l2", "optimizer__learning_rate"} <= set(
        kk.Classifier().get_params())
    assert kk.Classifier().get_params()["batch_size"] is None  # a setting, not twice


def test_a_given_declaration_trains_with_the_chosen_placeholder_value(iris):
    decl = kk.Model((4,), [kk.use("dense_block", units=kk.hp.Choice([8, 16], default=8))],
                    kk.use("classifier", classes=3), epochs=1)
    clf = kk.Classifier(decl, blocks__0__units=16).fit(*iris)
    assert clf.declaration_.blocks[0].params["units"] == 16
    assert decl.hyperparameters()  # the declaration itself is left as it was
    assert clf.predict(iris[0][:5]).shape == (5,) and clf.n_features_in_ == 4


def test_an_unknown_parameter_is_refused_at_fit_naming_the_placeholders(iris):
    estimator = kk.Classifier(epochs=1).set_params(blocks__0__unit=8)  # typo: set, not checked
    with pytest.raises(UsageError, match=r"`blocks__0__unit`.*blocks__0__units"):
        estimator.fit(*iris)
    with pytest.raises(UsageError, match="Invalid value for argument `model`"):
        kk.Classifier(model="dense").fit(*iris)


def test_grid_search_over_a_placeholder_trains_and_scores(iris, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X, y = iris
    search = GridSearchCV(kk.Classifier(epochs=2, random_state=0),
                          {"blocks__0__units": [4, 16]}, cv=2)
    search.fit(X, y)
    assert search.best_params_["blocks__0__units"] in (4, 16)
    assert len(search.cv_results_["mean_test_score"]) == 2
    assert 0 <= search.score(X, y) <= 1
    assert search.best_estimator_.declaration_.blocks[0].params["units"] == \
        search.best_params_["blocks__0__units"]
    assert list(tmp_path.iterdir()) == []  # every run directory was temporary


def test_a_pipeline_with_a_column_transformer_trains_and_scores():
    frame, species = penguins()
    columns = ColumnTransformer([
        ("numbers", Pipeline([("fill", _Fill()), ("scale", StandardScaler())]),
         ["bill_length_mm", "mass"]),
        ("islands", OneHotEncoder(), ["island"])])
    pipeline = Pipeline([("columns", columns), ("net", kk.Classifier(epochs=2))])
    pipeline.fit(frame, species)
    assert set(pipeline.predict(frame)) <= set(species)
    assert 0 <= pipeline.score(frame, species) <= 1
    assert pipeline.named_steps["net"].n_features_in_ == 5


class _Fill(StandardScaler):
    """Fill empty cells with the column mean (a SimpleImputer in two lines)."""

    def transform(self, X, copy=None):
        X = np.array(X, dtype="float64")
        return np.where(np.isnan(X), np.nanmean(X, axis=0), X)

    def fit(self, X, y=None):
        return self


def test_a_dataframe_trains_on_its_raw_columns_by_name():
    frame, species = penguins()
    clf = kk.Classifier(epochs=2).fit(frame, species)
    assert list(clf.feature_names_in_) == ["island", "bill_length_mm", "mass"]
    assert clf.columns_["island"] == "categorical"
    assert list(clf.classes_) == ["Adelie", "Chinstrap", "Gentoo"]
    proba = clf.predict_proba(frame.head(4))
    assert proba.shape == (4, 3) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame[["mass", "island", "bill_length_mm"]])


def test_cross_val_score_and_stacking(iris):
    X, y = iris
    scores = cross_val_score(kk.Classifier(epochs=2), X, y, cv=3)
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    stack = StackingClassifier([("net", kk.Classifier(epochs=2))],
                               final_estimator=LogisticRegression(max_iter=500), cv=2)
    assert 0 <= stack.fit(X, y).score(X, y) <= 1


def test_random_state_reproduces_and_clone_keeps_every_parameter(iris):
    X, y = iris
    first = kk.Classifier(epochs=2, random_state=3, blocks__0__units=8)
    second = clone(first)
    assert second.get_params() == first.get_params()
    assert np.array_equal(first.fit(X, y).predict_proba(X), second.fit(X, y).predict_proba(X))


def test_a_regressor_predicts_in_the_targets_units():
    X, y = load_diabetes(return_X_y=True)
    reg = kk.Regressor(epochs=3, random_state=0).fit(X, y)
    predictions = reg.predict(X[:50])
    assert predictions.shape == (50,) and predictions.dtype == np.float64
    assert 25 < predictions.mean() < 350  # the targets' units, not standard units


def test_a_fitted_estimator_pickles_and_predicts_the_same_in_a_fresh_process(iris, tmp_path):
    X, y = iris
    clf = kk.Classifier(epochs=2, random_state=0).fit(X, y)
    (tmp_path / "clf.pkl").write_bytes(pickle.dumps(clf))
    np.save(tmp_path / "x.npy", X)
    script = ("import pickle, sys, numpy as np; from pathlib import Path; d = Path(sys.argv[1]); "
              "clf = pickle.loads((d / 'clf.pkl').read_bytes()); "
              "np.save(d / 'proba.npy', clf.predict_proba(np.load(d / 'x.npy'))); "
              "np.save(d / 'labels.npy', clf.predict(np.load(d / 'x.npy')))")
    # a fresh interpreter: nothing of kerakit imported by hand before unpickling
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=ROOT, check=True,
                   timeout=300, capture_output=True)
    assert np.allclose(np.load(tmp_path / "proba.npy"), clf.predict_proba(X), atol=1e-6)
    assert np.array_equal(np.load(tmp_path / "labels.npy"), clf.predict(X))
