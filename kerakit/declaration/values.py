"""The values a declaration is made of: component references and placeholders.

A component reference (:class:`Use`, made by :func:`use`) names a registered
component with its parameters. Hyperparameter placeholders (``Int``, ``Float``,
``Choice``, ``Boolean``, ``OneOf``) are written inline where a value would go;
users reach them as :mod:`kerakit.hp`, whose docstring says how they are named
and resolved.

Example:
    >>> use("dense_block", units=Int(8, 64, default=32))
    use('dense_block', units=hp.Int(8, 64, default=32))
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kerakit.errors import DeclarationError


class Placeholder:
    """Base class: a value to be chosen later, with a default for now."""

    kind = ""

    def __init__(self, default: Any, name: str | None) -> None:
        self.default = default
        self.name = name

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_dict() == self.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self))

    def _named(self) -> str:
        return f", name={self.name!r}" if self.name else ""


class Int(Placeholder):
    """An integer in ``[min_value, max_value]``, in steps of ``step``.

    Args:
        min_value: Lowest value.
        max_value: Highest value, included.
        step: Spacing of the values.
        log: Sample on a log scale.
        default: Value without a tuner; ``min_value`` if omitted.
        name: Explicit hyperparameter name.
    """

    kind = "int"

    def __init__(self, min_value: int, max_value: int, step: int = 1, log: bool = False,
                 default: int | None = None, name: str | None = None) -> None:
        if not (isinstance(min_value, int) and isinstance(max_value, int)) or min_value > max_value:
            raise DeclarationError(
                "Invalid range for hp.Int. Expected integers with min_value <= max_value. "
                f"Received: min_value={min_value!r}, max_value={max_value!r}"
            )
        default = min_value if default is None else default
        if not min_value <= default <= max_value:
            raise DeclarationError(
                f"Invalid default for hp.Int. Expected a value in [{min_value}, {max_value}]. "
                f"Received: default={default!r}"
            )
        super().__init__(default, name)
        self.min_value, self.max_value, self.step, self.log = min_value, max_value, step, log

    def to_dict(self) -> dict[str, Any]:
        return {"hp": "int", "min_value": self.min_value, "max_value": self.max_value,
                "step": self.step, "log": self.log, "default": self.default, "name": self.name}

    def __repr__(self) -> str:
        extra = f", step={self.step}" if self.step != 1 else ""
        extra += ", log=True" if self.log else ""
        return (f"hp.Int({self.min_value}, {self.max_value}{extra}, default={self.default}"
                f"{self._named()})")


class Float(Placeholder):
    """A float in ``[min_value, max_value]``, linear or log-scaled.

    Args:
        min_value: Lowest value.
        max_value: Highest value.
        step: Optional spacing; ``None`` for a continuous range.
        log: Sample on a log scale (both bounds must be positive).
        default: Value without a tuner; the (geometric) mid-point if omitted.
        name: Explicit hyperparameter name.
    """

    kind = "float"

    def __init__(self, min_value: float, max_value: float, step: float | None = None,
                 log: bool = False, default: float | None = None,
                 name: str | None = None) -> None:
        if min_value > max_value or (log and min_value <= 0):
            raise DeclarationError(
                "Invalid range for hp.Float. Expected min_value <= max_value, both positive "
                f"when log=True. Received: min_value={min_value!r}, max_value={max_value!r}, "
                f"log={log}"
            )
        if default is None:
            default = math.sqrt(min_value * max_value) if log else (min_value + max_value) / 2
        if not min_value <= default <= max_value:
            raise DeclarationError(
                f"Invalid default for hp.Float. Expected a value in [{min_value}, {max_value}]. "
                f"Received: default={default!r}"
            )
        super().__init__(float(default), name)
        self.min_value, self.max_value = float(min_value), float(max_value)
        self.step, self.log = step, log

    def to_dict(self) -> dict[str, Any]:
        return {"hp": "float", "min_value": self.min_value, "max_value": self.max_value,
                "step": self.step, "log": self.log, "default": self.default, "name": self.name}

    def __repr__(self) -> str:
        extra = (f", step={self.step}" if self.step else "") + (", log=True" if self.log else "")
        return (f"hp.Float({self.min_value:g}, {self.max_value:g}{extra}, default={self.default:g}"
                f"{self._named()})")


class Choice(Placeholder):
    """One of a list of plain values (numbers, strings, booleans).

    Args:
        values: The candidates.
        default: Value without a tuner; the first if omitted.
        name: Explicit hyperparameter name.
    """

    kind = "choice"

    def __init__(self, values: Sequence[Any], default: Any = None,
                 name: str | None = None) -> None:
        values = list(values)
        if not values or not all(isinstance(v, (int, float, str, bool)) for v in values):
            raise DeclarationError(
                "Invalid values for hp.Choice. Expected a non-empty list of numbers, strings or "
                f"booleans (use hp.OneOf to choose between components). Received: {values!r}"
            )
        default = values[0] if default is None else default
        if default not in values:
            raise DeclarationError(
                f"Invalid default for hp.Choice. Expected one of {values}. "
                f"Received: default={default!r}"
            )
        super().__init__(default, name)
        self.values = values

    def to_dict(self) -> dict[str, Any]:
        return {"hp": "choice", "values": self.values, "default": self.default, "name": self.name}

    def __repr__(self) -> str:
        return f"hp.Choice({self.values!r}, default={self.default!r}{self._named()})"


class Boolean(Placeholder):
    """``True`` or ``False``.

    Args:
        default: Value without a tuner.
        name: Explicit hyperparameter name.
    """

    kind = "boolean"

    def __init__(self, default: bool = False, name: str | None = None) -> None:
        super().__init__(bool(default), name)

    def to_dict(self) -> dict[str, Any]:
        return {"hp": "boolean", "default": self.default, "name": self.name}

    def __repr__(self) -> str:
        return f"hp.Boolean(default={self.default}{self._named()})"


class OneOf(Placeholder):
    """A choice between components (or ``None`` for "leave it out").

    Each option's own parameters, placeholders included, apply only when that
    option is chosen: KerasTuner sees them in a conditional scope.

    Example:
        >>> opt = OneOf(use("adam", learning_rate=Float(1e-4, 1e-2, log=True)),
        ...             use("sgd", momentum=0.9))

    Args:
        *options: Component references (names or ``use(...)``) or ``None``.
        default: Index of the option used without a tuner.
        name: Explicit hyperparameter name.
    """

    kind = "one_of"

    def __init__(self, *options: Any, default: int = 0, name: str | None = None) -> None:
        if len(options) < 2:
            raise DeclarationError(
                f"Invalid options for hp.OneOf. Expected at least two. Received: {list(options)!r}"
            )
        if not 0 <= default < len(options):
            raise DeclarationError(
                f"Invalid default for hp.OneOf. Expected an index in [0, {len(options) - 1}]. "
                f"Received: default={default!r}"
            )
        self.options = [None if o is None else as_ref(o) for o in options]
        self.labels = _labels(self.options)
        super().__init__(self.labels[default], name)

    def option(self, label: str) -> Any:
        """The option whose label is ``label``."""
        return self.options[self.labels.index(label)]

    def to_dict(self) -> dict[str, Any]:
        return {"hp": "one_of", "options": [ref_to_data(o) for o in self.options],
                "default": self.labels.index(self.default), "name": self.name}

    def __repr__(self) -> str:
        options = ", ".join(repr(o) for o in self.options)
        default = self.labels.index(self.default)
        return f"hp.OneOf({options}" + (f", default={default}" if default else "") + \
            f"{self._named()})"


def _labels(options: Sequence[Any]) -> list[str]:
    """Readable, unique labels: the component's short name, ``none`` for ``None``."""
    labels: list[str] = []
    for option in options:
        base = "none" if option is None else option.short_name
        label, n = base, 1
        while label in labels:
            label, n = f"{base}_{n}", n + 1
        labels.append(label)
    return labels


_TYPES = {cls.kind: cls for cls in (Int, Float, Choice, Boolean, OneOf)}


def from_dict(data: dict[str, Any]) -> Placeholder:
    """Rebuild a placeholder from :meth:`Placeholder.to_dict` output."""
    data = dict(data)
    kind = data.pop("hp")
    if kind not in _TYPES:
        raise DeclarationError(
            f"Invalid hyperparameter type. Expected one of {sorted(_TYPES)}. Received: {kind!r}"
        )
    if kind == "one_of":
        options = [None if o is None else ref_from_data(o) for o in data.pop("options")]
        return OneOf(*options, **data)
    return _TYPES[kind](**data)


# -- component references --------------------------------------------------


@dataclass(frozen=True)
class Use:
    """A reference to a registered component, with parameters.

    Build one with :func:`use`. Parameter values may be placeholders.
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def short_name(self) -> str:
        return self.name.rpartition(".")[2]

    def __repr__(self) -> str:
        if not self.params:
            return repr(self.name)
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"use({self.name!r}, {args})"

    def __hash__(self) -> int:
        return hash((self.name, repr(self.params)))


def use(name: str, **params: Any) -> Use:
    """Reference a registered component by short or qualified name, with parameters.

    Example:
        >>> use("conv_block", filters=64, pool=None)
        use('conv_block', filters=64, pool=None)
    """
    if not isinstance(name, str) or not name:
        raise DeclarationError(
            f"Invalid component name in use(). Expected a registered name such as 'conv_block'. "
            f"Received: {name!r}"
        )
    return Use(name, dict(params))


def as_ref(ref: Any) -> Any:
    """Normalise a component reference: a name or dict becomes :class:`Use`."""
    if isinstance(ref, str):
        return use(ref)
    if isinstance(ref, Mapping) and "name" in ref:
        extra = set(ref) - {"name", "params"}
        if extra:
            raise DeclarationError(
                f"Invalid component reference. Expected keys `name` and `params`. "
                f"Received: extra keys {sorted(extra)}"
            )
        return use(ref["name"], **dict(ref.get("params") or {}))
    return ref  # Use, Placeholder, None or a Keras object


# -- serialisation of references and values ----------------------------------


def ref_to_data(ref: Any) -> Any:
    """A component reference as JSON data."""
    if ref is None:
        return None
    if isinstance(ref, Use):
        return {"name": ref.name, "params": {k: value_to_data(v) for k, v in ref.params.items()}}
    if isinstance(ref, Placeholder):
        return ref.to_dict()
    if isinstance(ref, str):
        return {"name": ref, "params": {}}
    import keras

    try:
        data = keras.saving.serialize_keras_object(ref)
        json.dumps(data)
        return {"keras": data}
    except (TypeError, ValueError):  # e.g. callbacks: Keras has no config for them
        return {"live": f"{type(ref).__module__}.{type(ref).__qualname__}",
                "replayable": False}


def ref_from_data(data: Any) -> Any:
    """Inverse of :func:`ref_to_data`."""
    if data is None:
        return None
    if isinstance(data, Mapping) and "hp" in data:
        return from_dict(dict(data))
    if isinstance(data, Mapping) and "keras" in data:
        from kerakit.keras_gate import deserialize

        return deserialize(data["keras"])
    if isinstance(data, Mapping) and "live" in data:
        raise DeclarationError(
            f"Cannot replay a live object from JSON. Expected a component name or a Keras "
            f"config. Received: a {data['live']} that was passed as a Python object; pass it "
            "again in Python, or declare it by name with kk.use(...)"
        )
    ref = as_ref(data)
    if isinstance(ref, Use):
        return Use(ref.name, {k: value_from_data(v) for k, v in ref.params.items()})
    return ref


def value_to_data(value: Any) -> Any:
    if isinstance(value, Placeholder):
        return value.to_dict()
    if isinstance(value, tuple):
        return list(value)
    return value


def value_from_data(value: Any) -> Any:
    if isinstance(value, Mapping) and "hp" in value:
        return from_dict(dict(value))
    return value
