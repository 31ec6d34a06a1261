"""Public lookups over the loaded registry, and registration from user code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kerakit.registry.discovery import (
    LOCAL_PLUGIN,
    PluginInfo,
    add_local_component,
    current_registry,
)
from kerakit.registry.table import Component, check_kind, instantiate, make_component


def components(
    kind: str | None = None, pattern: str | None = None, plugin: str | None = None
) -> list[Component]:
    """List registered components, loading plugins on first use.

    Args:
        kind: Only this kind, e.g. ``"blocks"`` (``"block"`` works too).
        pattern: fnmatch wildcard on the qualified or short name, e.g. ``"*conv*"``.
        plugin: Only this plugin's components.

    Returns:
        Components sorted by kind, then qualified name.

    Example:
        >>> [c.name for c in components("optimizers", "ada*")]
        ['adagrad', 'adam', 'adamw']
    """
    return current_registry().list(kind, pattern, plugin)


def get_component(kind: str, name: str) -> Component:
    """Look up one component by short or qualified name.

    Raises:
        ComponentNotFoundError: with "did you mean" suggestions.
        AmbiguousComponentError: naming the providers.

    Example:
        >>> get_component("losses", "mse").qualified_name
        'kerakit.mse'
    """
    return current_registry().get(kind, name)


def get(kind: str, identifier: Any) -> Any:
    """Resolve a reference to a ready object, as forgiving as ``keras.losses.get``.

    Args:
        kind: Component kind.
        identifier: ``None``, a name, ``{"name": ..., "params": {...}}``, a
            Keras config dict, a class or an instance.

    Example:
        >>> optimizer = get("optimizers", {"name": "adam", "params": {"learning_rate": 0.01}})
    """
    return instantiate(current_registry(), check_kind(kind), identifier)


def list_plugins() -> list[PluginInfo]:
    """Every discovered plugin with its status, loading plugins on first use."""
    return list(current_registry().plugins.values())


def register_component(
    kind: str, name: str | None = None, obj: Callable[..., Any] | None = None, **metadata: Any
) -> Any:
    """Register a component from your own script, without making a package.

    It is registered under the plugin name ``local`` (``local.<name>``) in this
    process. Usable directly or as a decorator.

    Args:
        kind: Component kind.
        name: Short name; defaults to the object's name in snake case.
        obj: The class or factory; omit it to use this as a decorator.
        **metadata: As for a plugin's ``register``.

    Returns:
        ``obj`` (so the decorator leaves it usable).

    Example:
        >>> import keras
        >>> @register_component("blocks")  # doctest: +SKIP
        ... class MyBlock(keras.layers.Layer): ...
    """
    kind = check_kind(kind)

    def decorate(target: Callable[..., Any]) -> Callable[..., Any]:
        short = name or _snake_case(getattr(target, "__name__", ""))
        add_local_component(make_component(kind, short, target, LOCAL_PLUGIN, metadata=metadata))
        return target

    return decorate if obj is None else decorate(obj)


def _snake_case(text: str) -> str:
    out = []
    for i, ch in enumerate(text):
        if ch.isupper() and i and not text[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
