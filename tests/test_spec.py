"""Declarations: data round trips, placeholders and their names, errors before training."""

from __future__ import annotations

import json

import pytest

import kerakit as kk
from kerakit import hp
from kerakit.declaration.model import Sampler, check, resolve
from kerakit.errors import DeclarationError


def declaration() -> kk.Model:
    return kk.Model(
        inputs=kk.Input(shape=(8, 8, 1)),
        preprocess=["standardize"],
        augment=[hp.OneOf(kk.use("random_rotation", factor=0.05), None)],
        blocks=[
            kk.use("conv_block", filters=hp.Choice([16, 32, 64], default=32)),
            "global_avg_pool",
            kk.use("dropout", rate=hp.Float(0.0, 0.5, default=0.2)),
        ],
        head=kk.use("classifier", classes=10),
        optimizer=hp.OneOf(
            kk.use("adam", learning_rate=hp.Float(1e-4, 1e-2, log=True, default=1e-3)),
            kk.use("sgd", learning_rate=0.05, momentum=0.9),
        ),
        callbacks=["early_stopping"],
        batch_size=hp.Choice([32, 64]),
    )


def test_repr_reads_like_the_declaration():
    text = repr(declaration())
    assert "preprocess=['standardize']" in text
    assert "use('conv_block', filters=hp.Choice([16, 32, 64], default=32))" in text
    assert "hp.OneOf(use('adam', learning_rate=hp.Float(0.0001, 0.01, log=True" in text
    assert "batch_size=hp.Choice([32, 64], default=32)" in text


def test_json_round_trip_keeps_placeholders():
    decl = declaration()
    text = decl.to_json()
    json.loads(text)  # plain JSON
    again = kk.Model.from_json(text)
    assert again == decl
    assert again.hyperparameters() == decl.hyperparameters()


def test_hyperparameter_names_follow_their_place():
    names = set(declaration().hyperparameters())
    assert names == {
        "augment.0", "blocks.0.filters", "blocks.2.rate", "optimizer",
        "optimizer.adam.learning_rate", "batch_size",
    }


def test_explicit_name_wins():
    decl = declaration().replace(blocks=[kk.use("dense_block", units=hp.Int(8, 64, name="width"))])
    assert "width" in decl.hyperparameters()


def test_defaults_resolve_to_a_concrete_declaration():
    concrete = resolve(declaration())
    assert concrete.is_concrete
    assert concrete.blocks[0].params == {"filters": 32}
    assert concrete.optimizer == kk.use("adam", learning_rate=0.001)
    assert concrete.augment == [kk.use("random_rotation", factor=0.05)]
    assert concrete.batch_size == 32


class Pick(Sampler):
    def __init__(self, values):
        self.values, self.asked = values, []

    def value(self, name, placeholder):
        self.asked.append(name)
        return self.values.get(name, placeholder.default)


def test_choice_between_components_uses_only_the_chosen_parameters():
    sampler = Pick({"optimizer": "sgd", "augment.0": "none", "blocks.0.filters": 64})
    concrete = resolve(declaration(), sampler)
    assert concrete.optimizer == kk.use("sgd", learning_rate=0.05, momentum=0.9)
    assert concrete.augment == []
    assert concrete.blocks[0].params["filters"] == 64
    assert "optimizer.adam.learning_rate" not in sampler.asked


def test_placeholder_validation():
    with pytest.raises(DeclarationError, match="Expected a value in"):
        hp.Float(0.0, 1.0, default=2.0)
    with pytest.raises(DeclarationError, match="both positive when log=True"):
        hp.Float(0.0, 1.0, log=True)
    with pytest.raises(DeclarationError, match=r"use hp\.OneOf"):
        hp.Choice([kk.use("adam")])
    with pytest.raises(DeclarationError, match="at least two"):
        hp.OneOf(kk.use("adam"))


def test_unknown_component_is_named_with_its_place():
    decl = declaration().replace(blocks=[kk.use("conv_blok", filters=8), "flatten"])
    with pytest.raises(DeclarationError) as err:
        check(decl, kk.get_component)
    assert "blocks[0] (conv_blok)" in str(err.value)
    assert "Did you mean `conv_block`" in str(err.value)


def test_unknown_parameter_names_component_closest_and_valid():
    decl = declaration().replace(blocks=[kk.use("conv_block", filter=8), "flatten"])
    with pytest.raises(DeclarationError) as err:
        check(decl, kk.get_component)
    message = str(err.value)
    assert "blocks[0] (conv_block)" in message
    assert "Did you mean `filters`?" in message and "kernel_size" in message


def test_unknown_parameter_inside_a_choice_is_caught_too():
    decl = declaration().replace(optimizer=hp.OneOf("adam", kk.use("sgd", momentun=0.9)))
    with pytest.raises(DeclarationError, match=r"optimizer<sgd> \(sgd\).*momentum"):
        check(decl, kk.get_component)


def test_references_accept_names_dicts_and_keras_objects():
    import keras

    decl = declaration().replace(
        loss={"name": "sparse_categorical_crossentropy", "params": {"label_smoothing": 0.1}},
        optimizer=keras.optimizers.SGD(learning_rate=0.1),
    )
    again = kk.Model.from_json(decl.to_json())
    assert again.loss == kk.use("sparse_categorical_crossentropy", label_smoothing=0.1)
    assert isinstance(again.optimizer, keras.optimizers.SGD)
    assert float(again.optimizer.learning_rate) == pytest.approx(0.1)


def test_bad_declarations():
    with pytest.raises(DeclarationError, match="Invalid input shape"):
        kk.Input(shape=(8, -1))
    with pytest.raises(DeclarationError, match="Expected a list of components"):
        kk.Model((4,), blocks="dense_block", head="regressor")
    with pytest.raises(DeclarationError, match="Invalid field `epoch`"):
        declaration().replace(epoch=3)
    with pytest.raises(DeclarationError, match="kerakit_declaration"):
        kk.Model.from_dict({"blocks": []})
