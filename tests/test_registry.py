"""The registry: lookups, forgiving references and error messages."""

from __future__ import annotations

import keras
import pytest

import kerakit
from kerakit.errors import (
    AmbiguousComponentError,
    ComponentNotFoundError,
    DuplicateComponentError,
    InvalidParameterError,
    InvalidRegistrationError,
)
from kerakit.registry.table import (
    Component,
    Registry,
    check_kind,
    check_name,
    instantiate,
    make_component,
)


def small_registry() -> Registry:
    reg = Registry()
    reg.add(make_component("losses", "mse", keras.losses.MeanSquaredError, "kerakit"))
    reg.add(make_component("losses", "smooth", keras.losses.Huber, "alpha"))
    reg.add(make_component("losses", "smooth", keras.losses.Huber, "beta", "beta-dist", "2.0"))
    reg.add(make_component("optimizers", "adam", keras.optimizers.Adam, "kerakit"))
    return reg


def test_qualified_and_short_names_resolve():
    reg = small_registry()
    assert reg.get("losses", "mse").qualified_name == "kerakit.mse"
    assert reg.get("losses", "kerakit.mse") is reg.get("losses", "mse")
    assert reg.get("losses", "alpha.smooth").plugin == "alpha"
    assert reg.get("loss", "beta.smooth").distribution == "beta-dist"


def test_ambiguous_short_name_names_every_provider():
    with pytest.raises(AmbiguousComponentError) as err:
        small_registry().get("losses", "smooth")
    message = str(err.value)
    assert "alpha" in message and "beta" in message
    assert "`alpha.smooth`" in message and "`beta.smooth`" in message


def test_unknown_name_suggests_and_says_how_to_list():
    with pytest.raises(ComponentNotFoundError) as err:
        small_registry().get("losses", "mes")
    message = str(err.value)
    assert "Unknown loss `mes`" in message
    assert "Did you mean" in message and "mse" in message
    assert "kerakit components losses" in message


def test_unknown_name_in_wrong_kind_says_where_it_is():
    expected = "`adam` is registered under optimizers, not losses"
    with pytest.raises(ComponentNotFoundError, match=expected):
        small_registry().get("losses", "adam")


def test_duplicate_is_refused_and_names_the_plugin():
    reg = small_registry()
    with pytest.raises(DuplicateComponentError, match="Plugin `kerakit` registered the loss `mse`"):
        reg.add(make_component("losses", "mse", keras.losses.MeanAbsoluteError, "kerakit"))
    assert reg.get("losses", "mse").obj is keras.losses.MeanSquaredError


@pytest.mark.parametrize("kind", ["lossez", "", "blockss"])
def test_unknown_kind(kind):
    with pytest.raises(ValueError, match="Expected one of: datasets, preprocessors"):
        check_kind(kind)


@pytest.mark.parametrize("name", ["Conv Block", "a..b", "", "9lives", 3, "x.Y"])
def test_malformed_name(name):
    with pytest.raises(ValueError, match="Invalid component name"):
        check_name(name)


def test_register_rejects_non_callable_and_bad_names():
    with pytest.raises(InvalidRegistrationError, match="Expected a class or factory"):
        make_component("losses", "x", 42, "p")
    with pytest.raises(InvalidRegistrationError, match="Received: name='Bad-Name'"):
        make_component("losses", "Bad-Name", keras.losses.Huber, "p")
    with pytest.raises(InvalidRegistrationError, match="Expected a string"):
        make_component("losses", "x", keras.losses.Huber, "p", metadata={"summary": 3})


def test_summary_from_docstring_or_explicit():
    def factory(alpha: float = 0.5):
        """First line.

        More text."""

    assert make_component("losses", "f", factory, "p").summary == "First line."
    assert make_component("losses", "f", factory, "p", metadata={"summary": "Mine."}).summary == (
        "Mine."
    )


def test_parameters_read_from_signature():
    def factory(units: int, rate: float = 0.5):
        """Doc."""

    params = {p.name: p for p in make_component("blocks", "f", factory, "p").parameters}
    assert params["units"].required
    assert params["rate"].default == 0.5 and params["rate"].annotation == "float"


def test_unknown_parameter_names_closest_and_all_valid():
    component = Component("blocks", "conv_block", "kerakit", kerakit.get_component(
        "blocks", "conv_block").obj)
    with pytest.raises(InvalidParameterError) as err:
        component.create(filter=8)
    message = str(err.value)
    assert "`filter`" in message and "kerakit.conv_block" in message
    assert "Did you mean `filters`?" in message
    assert "kernel_size" in message and "Received: filter=8" in message


def test_keras_class_accepts_base_layer_arguments():
    component = kerakit.get_component("augmentations", "random_rotation")
    layer = component.create(name="rot", seed=3)
    assert layer.name == "rot"


def test_instantiate_is_as_forgiving_as_keras_get():
    reg = small_registry()
    assert isinstance(instantiate(reg, "losses", "mse"), keras.losses.MeanSquaredError)
    adam = instantiate(reg, "optimizers", {"name": "adam", "params": {"learning_rate": 0.01}})
    assert float(adam.learning_rate) == pytest.approx(0.01)
    config = keras.optimizers.serialize(keras.optimizers.Adam(learning_rate=0.02))
    config["class_name"] = "Adam"
    assert float(instantiate(reg, "optimizers", config).learning_rate) == pytest.approx(0.02)
    assert isinstance(instantiate(reg, "losses", keras.losses.Huber), keras.losses.Huber)
    loss = keras.losses.Huber()
    assert instantiate(reg, "losses", loss) is loss
    assert instantiate(reg, "losses", None) is None
    with pytest.raises(ValueError, match="Expected a dict with `name`"):
        instantiate(reg, "losses", {"params": {}})


def test_list_filters_by_kind_pattern_and_plugin():
    reg = small_registry()
    assert [c.qualified_name for c in reg.list("losses", "smo*")] == ["alpha.smooth", "beta.smooth"]
    assert [c.qualified_name for c in reg.list(plugin="kerakit")] == ["kerakit.mse", "kerakit.adam"]
    assert reg.counts("kerakit") == {"losses": 1, "optimizers": 1}


def test_register_component_inline_then_lookup():
    @kerakit.register_component("losses")
    def my_inline_loss(delta: float = 1.0):
        """An inline loss."""
        return keras.losses.Huber(delta=delta)

    component = kerakit.get_component("losses", "my_inline_loss")
    assert component.qualified_name == "local.my_inline_loss"
    assert isinstance(kerakit.get("losses", "local.my_inline_loss"), keras.losses.Huber)
    assert kerakit.load_plugins(reload=True).get("losses", "my_inline_loss") is not None
    with pytest.raises(DuplicateComponentError):
        kerakit.register_component("losses", "my_inline_loss", my_inline_loss)


def test_a_registered_component_is_gone_after_its_test_part_1():
    kerakit.register_component("losses", "leak_probe", keras.losses.MeanSquaredError)
    assert kerakit.get_component("losses", "leak_probe").plugin == "local"


def test_a_registered_component_is_gone_after_its_test_part_2():
    # runs after part 1 (pytest keeps file order): conftest undid part 1's registration
    with pytest.raises(kerakit.ComponentNotFoundError):
        kerakit.get_component("losses", "leak_probe")
