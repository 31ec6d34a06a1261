"""Walking a declaration: every placeholder resolved by a :class:`Sampler`.

Without a tuner the sampler takes the defaults; a tuner's sampler declares
its hyperparameters, entering a scope for each option of an ``hp.OneOf``.
Training and tuning share this one code path. :func:`check` walks every branch
of every choice to check component and parameter names.

The declaration is typed ``Any`` here: :mod:`kerakit.declaration.model`
imports this module, so this one cannot import it back.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kerakit.declaration.fields import component_fields, setting_fields
from kerakit.declaration.values import OneOf, Placeholder, Use, as_ref
from kerakit.errors import DeclarationError, KerakitError, PluginError

__all__ = ["Collector", "FixedSampler", "Sampler", "check", "components_of", "resolve", "walk"]


class Sampler:
    """Chooses placeholder values; this one takes the defaults.

    :mod:`kerakit.tuning.search_space` subclasses it to draw values from KerasTuner.
    """

    def value(self, name: str, placeholder: Placeholder) -> Any:
        return placeholder.default

    @contextlib.contextmanager
    def scope(self, name: str, label: str) -> Iterator[None]:
        """Entered while walking the option ``label`` of the choice ``name``."""
        yield


class Collector(Sampler):
    """Records every placeholder; walks every option of every choice."""

    all_branches = True

    def __init__(self, found: dict[str, Placeholder]) -> None:
        self.found = found

    def value(self, name: str, placeholder: Placeholder) -> Any:
        self.found.setdefault(name, placeholder)
        return placeholder.default


class FixedSampler(Sampler):
    """Takes values from a dict (a trial's, the best); a placeholder it lacks keeps its default.

    Example:
        >>> import kerakit as kk
        >>> decl = kk.Model(inputs=(4,), blocks=[kk.use("dense_block", units=kk.hp.Int(8, 64,
        ...                 name="units"))], head=kk.use("classifier", classes=3))
        >>> resolve(decl, FixedSampler({"units": 16})).blocks[0].params["units"]
        16
    """

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = dict(values)

    def value(self, name: str, placeholder: Placeholder) -> Any:
        return self.values.get(name, placeholder.default)


def resolve(decl: Any, sampler: Sampler | None = None) -> Any:
    """Return a concrete declaration: every placeholder replaced by a value.

    Args:
        decl: The declaration.
        sampler: Chooses values; ``None`` takes every default.
    """
    return walk(decl, sampler or Sampler())


def walk(decl: Any, sampler: Sampler) -> Any:
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
    for f in component_fields(decl):
        items = getattr(decl, f.name)
        if not f.metadata["many"]:
            data[f.name] = ref(items, f.name)
        elif items is not None:
            resolved = [ref(item, f"{f.name}.{i}") for i, item in enumerate(items)]
            data[f.name] = [r for r in resolved if r is not None]  # a OneOf may choose "none"
    for f in setting_fields(decl):
        if f.metadata["group"] == "fit":
            data[f.name] = param(getattr(decl, f.name), f.name)
    return dataclasses.replace(decl, **data)


def components_of(decl: Any) -> Iterator[tuple[str, str, Any]]:
    """Yield ``(path, kind, reference)`` for every component of a concrete declaration."""
    for f in component_fields(decl):
        value = getattr(decl, f.name)
        if f.metadata["many"]:
            for i, item in enumerate(value or []):
                yield f"{f.name}[{i}]", f.metadata["kind"], item
        elif value is not None:
            yield f.name, f.metadata["kind"], value


def check(decl: Any, get_component: Callable[[str, str], Any]) -> None:
    """Check every component name and parameter name, in every branch.

    Raises:
        DeclarationError: naming where in the declaration the problem is.
    """

    def check_ref(path: str, kind: str, value: Any) -> None:
        if isinstance(value, OneOf):
            for label, option in zip(value.labels, value.options, strict=True):
                check_ref(f"{path}<{label}>", kind, option)
        elif isinstance(value, Use):
            try:
                component = get_component(kind, value.name)
                component.check_parameters(value.params)
            except PluginError:  # its plugin was quarantined at first use; the error says so
                raise
            except (KerakitError, ValueError) as exc:
                raise DeclarationError(f"{path} ({value.name}): {exc}") from exc

    for f in component_fields(decl):
        value = getattr(decl, f.name)
        if f.metadata["many"]:
            for i, item in enumerate(value or []):
                check_ref(f"{f.name}[{i}]", f.metadata["kind"], item)
        else:
            check_ref(f.name, f.metadata["kind"], value)
