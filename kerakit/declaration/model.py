"""The model declaration: components by name, hyperparameters inline.

A :class:`Model` is plain data: a frozen dataclass whose fields say, in their
metadata, what they hold (a component kind, one or many, a fit setting) and
how they are checked. Serialising, walking, checking, printing and
``replace`` all read that metadata, so a new field is one line. Walking a
declaration with a sampler resolves every placeholder (see
:mod:`kerakit.declaration.values`); :func:`resolve` with no sampler takes the
defaults.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from kerakit.declaration import fields as checks
from kerakit.declaration.fields import PRECISIONS, component_field, setting_field
from kerakit.declaration.values import (
    Placeholder,
    Use,
    as_ref,
    ref_from_data,
    ref_to_data,
    use,
    value_from_data,
    value_to_data,
)

# Walking lives in kerakit.declaration.walking; its names stay importable from here.
from kerakit.declaration.walking import (
    Collector,
    FixedSampler,
    Sampler,
    check,
    components_of,
    resolve,
    walk,
)
from kerakit.errors import DeclarationError

FORMAT_VERSION = 1

__all__ = ["FORMAT_VERSION", "PRECISIONS", "FixedSampler", "Input", "Model", "Sampler", "Use",
           "check", "component_fields", "components_of", "resolve", "setting_fields", "use",
           "walk"]


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


# -- the declaration -------------------------------------------------------------


@dataclass(frozen=True, eq=False)
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
        >>> decl.replace(epochs=5).epochs
        5

    Args:
        inputs: An :class:`Input`, or just the shape.
        blocks: The body, in order.
        head: The last block, e.g. ``use("classifier", classes=10)``.
        preprocess: Preprocessors, kept at inference.
        augment: Augmentations, active in training only.
        loss: Defaults to cross-entropy for a classifier head, MSE otherwise.
        optimizer: Defaults to ``"adam"``.
        metrics: Defaults to accuracy for a classifier head, MAE otherwise.
        callbacks: Training callbacks: names, ``use(...)`` or live Keras
            callbacks (a live object trains, but is recorded in JSON as not
            replayable).
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
        columns: For tables: the kind of some or all raw columns
            (``"numeric"``, ``"categorical"`` or ``"ignore"``), overriding the
            inferred ones. The model then takes the named columns and encodes
            them itself; see ``docs/data.md``.
        standardize_targets: Train a regression head on targets standardised
            with the training split's mean and deviation; predictions and
            metrics stay in the original units.
        keep_best: End every run that has validation data with the weights of
            its best validation epoch (by early stopping's monitor, else
            ``val_loss``), before it is evaluated, saved and exported.
        class_weight: For classifiers: ``"balanced"`` (each class weighs
            inversely to its share of the training rows) or a dict of class
            name to weight; passed to Keras ``fit`` in runs, trials and retrains.
        name: The model's name.
        track: Experiment trackers told about every run of this declaration,
            by name (``["mlflow"]``); see :mod:`kerakit.runs.tracking`.

    Raises:
        DeclarationError: for malformed parts, naming the field.
    """

    inputs: Input | Sequence[int] = field(metadata={"json": "inputs"})
    blocks: Sequence[Any] = component_field("blocks", many=True)
    head: Any = component_field("blocks")
    _: KW_ONLY
    preprocess: Sequence[Any] = component_field("preprocessors", many=True)
    augment: Sequence[Any] = component_field("augmentations", many=True)
    loss: Any = component_field("losses")
    optimizer: Any = component_field("optimizers", default="adam")
    metrics: Sequence[Any] | None = field(default=None,
                                          metadata={"kind": "metrics", "many": True})
    callbacks: Sequence[Any] = component_field("callbacks", many=True)
    initializer: Any = component_field("initializers")
    regularizer: Any = setting_field(None, group=None)
    epochs: Any = setting_field(20, checks.positive_int)
    batch_size: Any = setting_field(32, checks.positive_int)
    validation_split: Any = setting_field(0.15, checks.fraction)
    seed: int | None = setting_field(0, checks.seed)
    precision: Any = setting_field(None, checks.precision)
    columns: Mapping[str, str] | None = setting_field(None, checks.columns, group=None)
    standardize_targets: bool = setting_field(True, checks.flag)
    keep_best: bool = setting_field(True, checks.flag)
    class_weight: Any = setting_field(None, checks.class_weight)
    name: str = setting_field("model", checks.text, group=None)
    track: Sequence[str] = setting_field((), checks.names, group=None)

    def __post_init__(self) -> None:
        if not isinstance(self.inputs, Input):
            shape = self.inputs if isinstance(self.inputs, (list, tuple)) else (self.inputs,)
            object.__setattr__(self, "inputs", Input(tuple(shape)))
        for f in component_fields():
            value = getattr(self, f.name)
            if f.metadata["many"]:
                value = None if value is None and f.name == "metrics" else \
                    _ref_list(f.name, value)
            else:
                value = as_ref(value)
            object.__setattr__(self, f.name, value)
        for f in setting_fields():
            checker = f.metadata["check"]
            if checker is not None:
                checker(f.name, getattr(self, f.name))
        if self.head is None:
            raise DeclarationError("Invalid head. Expected a component such as "
                                   "use('classifier', classes=10). Received: None")

    # -- data ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` rebuilds the declaration.

        A live Keras object that Keras cannot serialise (a callback, say) is
        recorded as ``{"live": "module.Class", "replayable": false}``.
        """
        data: dict[str, Any] = {"kerakit_declaration": FORMAT_VERSION}
        fit: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("json") == "inputs":
                data[f.name] = {"shape": list(value.shape), "dtype": value.dtype,
                                "name": value.name}
            elif "kind" in f.metadata:
                many = f.metadata["many"]
                data[f.name] = (None if value is None else [ref_to_data(r) for r in value]) \
                    if many else ref_to_data(value)
            elif f.metadata.get("group") == "fit":
                fit[f.name] = value_to_data(value)
            elif "check" in f.metadata:
                data[f.name] = value_to_data(value)
        data["fit"] = fit
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Model:
        """Rebuild a declaration from :meth:`to_dict` output.

        Raises:
            DeclarationError: if ``data`` is not a kerakit declaration, or records
                a live object that cannot be replayed.
        """
        if not isinstance(data, Mapping) or "kerakit_declaration" not in data:
            raise DeclarationError(
                "Invalid declaration data. Expected a dict written by Model.to_dict() with a "
                f"`kerakit_declaration` key. Received: {str(data)[:80]!r}"
            )
        fit = data.get("fit") or {}
        if not isinstance(fit, Mapping):
            raise DeclarationError(f"Invalid declaration data: `fit` must be a dict. "
                                   f"Received: {fit!r}")
        args: dict[str, Any] = {}
        try:
            for f in dataclasses.fields(cls):
                if f.metadata.get("json") == "inputs":
                    inputs = data["inputs"]
                    args[f.name] = Input(tuple(inputs["shape"]), inputs.get("dtype", "float32"),
                                         inputs.get("name", "inputs"))
                elif "kind" in f.metadata:
                    if f.name not in data:
                        continue
                    value = data[f.name]
                    args[f.name] = (None if value is None else [ref_from_data(r) for r in value]) \
                        if f.metadata["many"] else ref_from_data(value)
                elif f.metadata.get("group") == "fit":
                    if f.name in fit:
                        args[f.name] = value_from_data(fit[f.name])
                elif "check" in f.metadata and f.name in data:
                    args[f.name] = value_from_data(data[f.name])
        except (KeyError, TypeError) as exc:
            raise DeclarationError(f"Invalid declaration data: missing or malformed {exc}. "
                                   f"Expected the form Model.to_dict() writes.") from exc
        if "blocks" not in args or "head" not in args:
            raise DeclarationError("Invalid declaration data. Expected `blocks` and `head`. "
                                   f"Received keys: {sorted(data)}")
        return cls(**args)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str) -> Model:
        return cls.from_dict(json.loads(text))

    def replace(self, **changes: Any) -> Model:
        """A copy with some fields changed, e.g. ``decl.replace(epochs=5)``.

        Raises:
            DeclarationError: for a field the declaration does not have, or a bad value.
        """
        names = [f.name for f in dataclasses.fields(self) if f.name != "_"]
        unknown = sorted(set(changes) - set(names))
        if unknown:
            raise DeclarationError(
                f"Invalid field `{unknown[0]}`. Expected one of: {', '.join(sorted(names))}. "
                f"Received: {unknown[0]}={changes[unknown[0]]!r}"
            )
        return dataclasses.replace(self, **changes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Model) and other.to_dict() == self.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ("inputs", "preprocess", "augment", "blocks", "head")  # as a user writes them
        parts = [f"inputs={self.inputs!r}"]
        parts += [f"{n}={getattr(self, n)!r}" for n in shown[1:4] if getattr(self, n)]
        parts.append(f"head={self.head!r}")
        for f in dataclasses.fields(self):
            if f.name in shown:
                continue
            value = getattr(self, f.name)
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING \
                else f.default
            if value != as_ref(default) and value != default:
                parts.append(f"{f.name}={value!r}")
        body = ",\n    ".join(parts)
        return f"Model(\n    {body},\n)"

    # -- placeholders ------------------------------------------------------

    def hyperparameters(self) -> dict[str, Placeholder]:
        """Every placeholder in every branch, by hyperparameter name."""
        found: dict[str, Placeholder] = {}
        walk(self, Collector(found))
        return found

    @property
    def is_concrete(self) -> bool:
        return not self.hyperparameters()


def component_fields() -> list[dataclasses.Field]:
    """The declaration's fields that hold component references."""
    return checks.component_fields(Model)


def setting_fields() -> list[dataclasses.Field]:
    """The declaration's plain-value fields (fit settings, name, regularizer)."""
    return checks.setting_fields(Model)


def _ref_list(field_name: str, refs: Sequence[Any] | None) -> list[Any]:
    if refs is None:
        return []
    if isinstance(refs, (str, Mapping)) or not isinstance(refs, Sequence):
        raise DeclarationError(
            f"Invalid `{field_name}`. Expected a list of components. Received: {refs!r}"
        )
    return [as_ref(r) for r in refs]
