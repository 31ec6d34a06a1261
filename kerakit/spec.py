"""The model declaration: components by name, hyperparameters inline.

A :class:`Model` is plain data: printable as the user wrote it, JSON
round-trippable, and free of Keras objects until :func:`kerakit.build` turns
it into a ``keras.Model``. Walking it with a sampler resolves every placeholder
(see :mod:`kerakit.hp`); :func:`resolve` with no sampler takes the defaults.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kerakit.errors import DeclarationError
from kerakit.hp import OneOf, Placeholder
from kerakit.hp import from_dict as placeholder_from_dict

FORMAT_VERSION = 1

#: declaration field -> component kind, for the fields holding lists of components
LIST_FIELDS = {
    "preprocess": "preprocessors",
    "augment": "augmentations",
    "blocks": "blocks",
    "metrics": "metrics",
    "callbacks": "callbacks",
}
#: declaration field -> component kind, for the fields holding one component
SINGLE_FIELDS = {
    "head": "blocks",
    "loss": "losses",
    "optimizer": "optimizers",
    "initializer": "initializers",
}
FIT_FIELDS = ("epochs", "batch_size", "validation_split", "seed", "precision")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


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


@dataclass(frozen=True)
class Input:
    """The model input: shape without the batch axis, dtype and name."""

    shape: tuple[int | None, ...]
    dtype: str = "float32"
    name: str = "inputs"

    def __post_init__(self) -> None:
        shape = tuple(self.shape) if isinstance(self.shape, (list, tuple)) else (self.shape,)
        if not shape or not all(d is None or (isinstance(d, int) and d > 0) for d in shape):
            raise DeclarationError(
                "Invalid input shape. Expected a tuple of positive ints (None for any size), "
                f"without the batch axis. Received: shape={self.shape!r}"
            )
        object.__setattr__(self, "shape", shape)

    def __repr__(self) -> str:
        extra = "" if self.dtype == "float32" else f", dtype={self.dtype!r}"
        extra += "" if self.name == "inputs" else f", name={self.name!r}"
        return f"Input(shape={self.shape}{extra})"


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


class Model:
    """A model declaration: what to build and how to train it, by component name.

    Example:
        >>> import kerakit as kk
        >>> decl = kk.Model(
        ...     inputs=kk.Input(shape=(8, 8, 1)),
        ...     preprocess=["standardize"],
        ...     blocks=[kk.use("conv_block", filters=32), "global_avg_pool"],
        ...     head=kk.use("classifier", classes=10),
        ... )

    Args:
        inputs: An :class:`Input`, or just the shape.
        blocks: The body, in order.
        head: The last block, e.g. ``use("classifier", classes=10)``.
        preprocess: Preprocessors, kept at inference.
        augment: Augmentations, active in training only.
        loss: Defaults to cross-entropy for a classifier head, MSE otherwise.
        optimizer: Defaults to ``"adam"``.
        metrics: Defaults to accuracy for a classifier head, MAE otherwise.
        callbacks: Training callbacks.
        initializer: Default kernel initializer for blocks that take one.
        regularizer: Default kernel regularizer (Keras name or config, e.g.
            ``{"class_name": "L2", "config": {"l2": 1e-4}}``) for blocks that take one.
        epochs: Maximum number of epochs.
        batch_size: 1 for stochastic, the training-set size for batch gradient
            descent, anything between for mini-batch.
        validation_split: Fraction of the data held out for validation.
        seed: Seed for weights, shuffling and augmentation.
        precision: ``None`` (Keras' global policy), ``"float32"``,
            ``"mixed_float16"`` or ``"mixed_bfloat16"``; applied inside every
            build, so tuning trials get it too.
        name: The model's name.

    Raises:
        DeclarationError: for malformed parts.
    """

    def __init__(
        self,
        inputs: Input | Sequence[int],
        blocks: Sequence[Any],
        head: Any,
        *,
        preprocess: Sequence[Any] = (),
        augment: Sequence[Any] = (),
        loss: Any = None,
        optimizer: Any = "adam",
        metrics: Sequence[Any] | None = None,
        callbacks: Sequence[Any] = (),
        initializer: Any = None,
        regularizer: Any = None,
        epochs: Any = 20,
        batch_size: Any = 32,
        validation_split: Any = 0.15,
        seed: int | None = 0,
        precision: Any = None,
        name: str = "model",
    ) -> None:
        self.inputs = inputs if isinstance(inputs, Input) else Input(tuple(inputs))
        self.preprocess = _ref_list("preprocess", preprocess)
        self.augment = _ref_list("augment", augment)
        self.blocks = _ref_list("blocks", blocks)
        self.head = as_ref(head)
        self.loss = as_ref(loss)
        self.optimizer = as_ref(optimizer)
        self.metrics = None if metrics is None else _ref_list("metrics", metrics)
        self.callbacks = _ref_list("callbacks", callbacks)
        self.initializer = as_ref(initializer)
        self.regularizer = regularizer
        self.epochs, self.batch_size = epochs, batch_size
        self.validation_split, self.seed, self.name = validation_split, seed, name
        if not (precision is None or precision in PRECISIONS or isinstance(precision,
                                                                           Placeholder)):
            raise DeclarationError(
                f"Invalid precision. Expected None or one of: {', '.join(PRECISIONS)}. "
                f"Received: precision={precision!r}"
            )
        self.precision = precision
        if self.head is None:
            raise DeclarationError("Invalid head. Expected a component such as "
                                   "use('classifier', classes=10). Received: None")

    # -- data ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` rebuilds the declaration."""
        return {
            "kerakit_declaration": FORMAT_VERSION,
            "name": self.name,
            "inputs": {"shape": list(self.inputs.shape), "dtype": self.inputs.dtype,
                       "name": self.inputs.name},
            **{f: [ref_to_data(r) for r in getattr(self, f)] for f in
               ("preprocess", "augment", "blocks", "callbacks")},
            "head": ref_to_data(self.head),
            "loss": ref_to_data(self.loss),
            "optimizer": ref_to_data(self.optimizer),
            "metrics": None if self.metrics is None else [ref_to_data(r) for r in self.metrics],
            "initializer": ref_to_data(self.initializer),
            "regularizer": _value_to_data(self.regularizer),
            "fit": {f: _value_to_data(getattr(self, f)) for f in FIT_FIELDS},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Model:
        """Rebuild a declaration from :meth:`to_dict` output.

        Raises:
            DeclarationError: if ``data`` is not a kerakit declaration.
        """
        if not isinstance(data, Mapping) or "kerakit_declaration" not in data:
            raise DeclarationError(
                "Invalid declaration data. Expected a dict written by Model.to_dict() with a "
                f"`kerakit_declaration` key. Received: {str(data)[:80]!r}"
            )
        fit = {f: _value_from_data(v) for f, v in dict(data.get("fit") or {}).items()}
        inputs = data["inputs"]
        return cls(
            Input(tuple(inputs["shape"]), inputs.get("dtype", "float32"),
                  inputs.get("name", "inputs")),
            [ref_from_data(r) for r in data["blocks"]],
            ref_from_data(data["head"]),
            preprocess=[ref_from_data(r) for r in data.get("preprocess", [])],
            augment=[ref_from_data(r) for r in data.get("augment", [])],
            loss=ref_from_data(data.get("loss")),
            optimizer=ref_from_data(data.get("optimizer")),
            metrics=None if data.get("metrics") is None
            else [ref_from_data(r) for r in data["metrics"]],
            callbacks=[ref_from_data(r) for r in data.get("callbacks", [])],
            initializer=ref_from_data(data.get("initializer")),
            regularizer=_value_from_data(data.get("regularizer")),
            name=data.get("name", "model"),
            **fit,
        )

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> Model:
        return cls.from_dict(json.loads(text))

    def replace(self, **changes: Any) -> Model:
        """A copy with some fields changed, e.g. ``decl.replace(epochs=5)``."""
        data = self.to_dict()
        for key, value in changes.items():
            if key in FIT_FIELDS:
                data["fit"][key] = _value_to_data(value)
            elif key in data:
                data[key] = value.to_dict() if isinstance(value, Input) else (
                    [ref_to_data(as_ref(v)) for v in value] if key in LIST_FIELDS
                    else ref_to_data(as_ref(value)) if key in SINGLE_FIELDS else value)
            else:
                raise DeclarationError(
                    f"Invalid field `{key}`. Expected one of: "
                    f"{', '.join(sorted([*data, *FIT_FIELDS]))}. Received: {key}={value!r}"
                )
        return Model.from_dict(data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Model) and other.to_dict() == self.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = [f"inputs={self.inputs!r}"]
        for f in ("preprocess", "augment", "blocks"):
            if getattr(self, f):
                parts.append(f"{f}={getattr(self, f)!r}")
        parts.append(f"head={self.head!r}")
        defaults = {"loss": None, "optimizer": use("adam"), "metrics": None, "callbacks": [],
                    "initializer": None, "regularizer": None, "epochs": 20, "batch_size": 32,
                    "validation_split": 0.15, "seed": 0, "precision": None, "name": "model"}
        for key, default in defaults.items():
            value = getattr(self, key)
            if value != default:
                parts.append(f"{key}={value!r}")
        body = ",\n    ".join(parts)
        return f"Model(\n    {body},\n)"

    # -- placeholders ------------------------------------------------------

    def hyperparameters(self) -> dict[str, Placeholder]:
        """Every placeholder in every branch, by hyperparameter name."""
        found: dict[str, Placeholder] = {}
        walk(self, _Collector(found))
        return found

    @property
    def is_concrete(self) -> bool:
        return not self.hyperparameters()


def _ref_list(field_name: str, refs: Sequence[Any] | None) -> list[Any]:
    if refs is None:
        return []
    if isinstance(refs, (str, Mapping)) or not isinstance(refs, Sequence):
        raise DeclarationError(
            f"Invalid `{field_name}`. Expected a list of components. Received: {refs!r}"
        )
    return [as_ref(r) for r in refs]


# -- serialisation of references and values ----------------------------------


def ref_to_data(ref: Any) -> Any:
    """A component reference as JSON data."""
    if ref is None:
        return None
    if isinstance(ref, Use):
        return {"name": ref.name, "params": {k: _value_to_data(v) for k, v in ref.params.items()}}
    if isinstance(ref, Placeholder):
        return ref.to_dict()
    if isinstance(ref, str):
        return {"name": ref, "params": {}}
    import keras

    return {"keras": keras.saving.serialize_keras_object(ref)}


def ref_from_data(data: Any) -> Any:
    """Inverse of :func:`ref_to_data`."""
    if data is None:
        return None
    if isinstance(data, Mapping) and "hp" in data:
        return placeholder_from_dict(dict(data))
    if isinstance(data, Mapping) and "keras" in data:
        import keras

        return keras.saving.deserialize_keras_object(data["keras"])
    ref = as_ref(data)
    if isinstance(ref, Use):
        return Use(ref.name, {k: _value_from_data(v) for k, v in ref.params.items()})
    return ref


def _value_to_data(value: Any) -> Any:
    if isinstance(value, Placeholder):
        return value.to_dict()
    if isinstance(value, tuple):
        return list(value)
    return value


def _value_from_data(value: Any) -> Any:
    if isinstance(value, Mapping) and "hp" in value:
        return placeholder_from_dict(dict(value))
    return value


# -- walking: resolve placeholders ---------------------------------------------


class Sampler:
    """Chooses placeholder values; this one takes the defaults.

    :mod:`kerakit.search_space` subclasses it to draw values from KerasTuner.
    """

    def value(self, name: str, placeholder: Placeholder) -> Any:
        return placeholder.default

    @contextlib.contextmanager
    def scope(self, name: str, label: str) -> Iterator[None]:
        """Entered while walking the option ``label`` of the choice ``name``."""
        yield


class _Collector(Sampler):
    """Records every placeholder; walks every option of every choice."""

    all_branches = True

    def __init__(self, found: dict[str, Placeholder]) -> None:
        self.found = found

    def value(self, name: str, placeholder: Placeholder) -> Any:
        self.found.setdefault(name, placeholder)
        return placeholder.default


def resolve(decl: Model, sampler: Sampler | None = None) -> Model:
    """Return a concrete declaration: every placeholder replaced by a value.

    Args:
        decl: The declaration.
        sampler: Chooses values; ``None`` takes every default.
    """
    return walk(decl, sampler or Sampler())


def walk(decl: Model, sampler: Sampler) -> Model:
    """Resolve ``decl`` with ``sampler`` (see :class:`Sampler`)."""
    every = getattr(sampler, "all_branches", False)

    def ref(value: Any, path: str) -> Any:
        if isinstance(value, OneOf):
            name = value.name or path
            chosen = sampler.value(name, value)
            if every:
                for label, option in zip(value.labels, value.options, strict=True):
                    with sampler.scope(name, label):
                        ref(option, f"{path}.{label}")
            with sampler.scope(name, chosen):
                return ref(value.option(chosen), f"{path}.{chosen}")
        if isinstance(value, Placeholder):
            return ref(as_ref(sampler.value(value.name or path, value)), path)
        if isinstance(value, Use):
            return Use(value.name, {k: param(v, f"{path}.{k}") for k, v in value.params.items()})
        return value

    def param(value: Any, path: str) -> Any:
        if isinstance(value, OneOf):
            return ref(value, path)
        if isinstance(value, Placeholder):
            return sampler.value(value.name or path, value)
        return value

    data: dict[str, Any] = {}
    for f in LIST_FIELDS:
        items = getattr(decl, f)
        if items is None:
            data[f] = None
            continue
        resolved = [ref(item, f"{f}.{i}") for i, item in enumerate(items)]
        data[f] = [r for r in resolved if r is not None]  # a OneOf may choose "none"
    for f in SINGLE_FIELDS:
        data[f] = ref(getattr(decl, f), f)
    for f in FIT_FIELDS:
        data[f] = param(getattr(decl, f), f)
    return Model(
        decl.inputs, data["blocks"], data["head"], preprocess=data["preprocess"],
        augment=data["augment"], loss=data["loss"], optimizer=data["optimizer"],
        metrics=data["metrics"], callbacks=data["callbacks"], initializer=data["initializer"],
        regularizer=decl.regularizer, name=decl.name,
        **{f: data[f] for f in FIT_FIELDS},
    )


def components_of(decl: Model) -> Iterator[tuple[str, str, Any]]:
    """Yield ``(path, kind, reference)`` for every component of a concrete declaration."""
    for f, kind in LIST_FIELDS.items():
        for i, item in enumerate(getattr(decl, f) or []):
            yield f"{f}[{i}]", kind, item
    for f, kind in SINGLE_FIELDS.items():
        if getattr(decl, f) is not None:
            yield f, kind, getattr(decl, f)


def check(decl: Model, get_component: Callable[[str, str], Any]) -> None:
    """Check every component name and parameter name, in every branch.

    Raises:
        DeclarationError: naming where in the declaration the problem is.
    """
    from kerakit.errors import KerakitError

    def check_ref(path: str, kind: str, value: Any) -> None:
        if isinstance(value, OneOf):
            for label, option in zip(value.labels, value.options, strict=True):
                check_ref(f"{path}<{label}>", kind, option)
        elif isinstance(value, Use):
            try:
                component = get_component(kind, value.name)
                component.check_parameters(value.params)
            except (KerakitError, ValueError) as exc:
                raise DeclarationError(f"{path} ({value.name}): {exc}") from exc

    for f, kind in LIST_FIELDS.items():
        for i, item in enumerate(getattr(decl, f) or []):
            check_ref(f"{f}[{i}]", kind, item)
    for f, kind in SINGLE_FIELDS.items():
        check_ref(f, kind, getattr(decl, f))
