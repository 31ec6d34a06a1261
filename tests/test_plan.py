"""The plan: one check and one lookup per component; live Keras objects; outputs that
follow the plan."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import kerakit as kk
from kerakit.errors import DeclarationError
from kerakit.registry.discovery import current_registry
from kerakit.runs.report import best_so_far
from kerakit.tuning.search import direction


def mlp(**changes) -> kk.Model:
    decl = kk.Model((4,), [kk.use("dense_block", units=8)], kk.use("classifier", classes=3),
                    preprocess=["standardize"], epochs=3, callbacks=["early_stopping"])
    return decl.replace(**changes) if changes else decl


class CountingRegistry:
    """The real registry, counting lookups."""

    def __init__(self, registry):
        self.registry, self.calls = registry, []

    def get(self, kind, name):
        self.calls.append((kind, name))
        return self.registry.get(kind, name)

    def __getattr__(self, name):
        return getattr(self.registry, name)


def test_plan_resolves_once_and_answers_downstream_questions():
    counting = CountingRegistry(current_registry())
    decl = mlp(optimizer=kk.hp.OneOf(kk.use("adam"), kk.use("sgd", momentum=0.9)))
    plan = kk.plan(decl, registry=counting)
    assert plan.declaration.is_concrete and plan.source is decl
    assert plan.head == kk.Head("classification", classes=3, activation="softmax")
    assert plan.loss == "sparse_categorical_crossentropy"
    assert plan.default_objective == "val_accuracy"
    checked = len(counting.calls)  # the check walks every branch, sgd included
    assert ("optimizers", "sgd") in counting.calls
    plan.build(adapt_data=np.random.default_rng(0).normal(size=(16, 4)))
    plan.callbacks(run_dir=None)
    plan.manifest("iris")
    plan.components_used()
    after = counting.calls[checked:]
    # after checking, each component is looked up once, however often it is asked for
    assert len(after) == len(set(after)), after


def test_plan_of_a_plan_is_the_same_plan_and_overrides_make_a_new_one():
    plan = kk.plan(mlp())
    assert kk.plan(plan) is plan
    assert kk.plan(plan, epochs=7).declaration.epochs == 7


def test_declaration_fields_drive_serialisation():
    import dataclasses

    decl = mlp()
    data = decl.to_dict()
    names = {f.name for f in dataclasses.fields(kk.Model) if f.name != "_"}
    assert names == (set(data) | set(data["fit"])) - {"fit", "kerakit_declaration"}
    assert kk.Model.from_dict(data) == decl


@pytest.mark.parametrize("field, value, expected", [
    ("epochs", 0, "an int >= 1"), ("batch_size", -5, "an int >= 1"),
    ("validation_split", 1.5, "in [0, 1)"), ("seed", -1, "an int >= 0"),
    ("precision", "half", "None or one of"),
])
def test_settings_are_checked_with_keras_style_messages(field, value, expected):
    with pytest.raises(DeclarationError, match="Received: " + field) as info:
        mlp(**{field: value})
    assert expected in str(info.value)


def test_live_keras_objects_train_and_are_marked_not_replayable(tmp_path):
    stopper = keras.callbacks.EarlyStopping(patience=1)
    decl = mlp(callbacks=[stopper, "terminate_on_nan"])
    assert decl.replace(epochs=2).callbacks[0] is stopper  # no JSON round trip
    run = kk.fit(decl, "iris", out=tmp_path / "run", verbose=0,
                 callbacks=[keras.callbacks.EarlyStopping(patience=1)])
    assert run.epochs_run >= 1
    recorded = json.loads((run.dir / "declaration.json").read_text())
    assert recorded["callbacks"][0] == {
        "live": "keras.src.callbacks.early_stopping.EarlyStopping", "replayable": False}
    with pytest.raises(DeclarationError, match="Cannot replay a live object"):
        kk.Model.from_dict(recorded)


def test_tuning_plot_follows_the_objectives_direction():
    assert direction("val_mae") == "min" and direction("val_accuracy") == "max"
    assert list(best_so_far([3.0, 1.0, 2.0], direction("val_mae"))) == [3.0, 1.0, 1.0]
    assert list(best_so_far([0.5, 0.9, 0.7], direction("val_accuracy"))) == [0.5, 0.9, 0.9]
