"""The registry of components: one table per kind, lookups, helpful errors.

A :class:`Registry` maps each kind to its components, keyed by qualified
name ``<plugin>.<name>``. Short names resolve when exactly one plugin provides
them. The registry is filled by :mod:`kerakit.registry.discovery`; users normally reach it
through :func:`kerakit.components` and :func:`kerakit.get_component`.

One component is a :class:`~kerakit.registry.component.Component`; the names
it may have are checked in :mod:`kerakit.registry.names`. Both stay
importable from here.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from kerakit.errors import (
    AmbiguousComponentError,
    ComponentNotFoundError,
    DuplicateComponentError,
    PluginError,
    UsageError,
)
from kerakit.hookspecs import KINDS, singular
from kerakit.registry.component import (
    Component,
    Facts,
    Parameter,
    PluginSource,
    facts_of,
    make_component,
    summary_of,
)
from kerakit.registry.names import PLUGIN_NAME, SHORT_NAME, check_kind, check_name

__all__ = ["PLUGIN_NAME", "SHORT_NAME", "Component", "Facts", "Parameter", "PluginSource",
           "Registry", "check_kind", "check_name", "facts_of", "instantiate", "make_component",
           "summary_of"]

_LIST_HINT = "Run `kerakit components {kind}` to list them all."


class Registry:
    """Components by kind, keyed by qualified name.

    Example:
        >>> reg = Registry()
        >>> reg.add(Component("losses", "mse", "kerakit", lambda: "mse"))
        >>> reg.get("losses", "mse").qualified_name
        'kerakit.mse'
    """

    def __init__(self) -> None:
        # kind -> qualified name -> component
        self._tables: dict[str, dict[str, Component]] = {kind: {} for kind in KINDS}
        # kind -> short name -> providers, in load order
        self._short: dict[str, dict[str, list[Component]]] = {kind: {} for kind in KINDS}
        # plugin name -> kerakit.registry.discovery.PluginInfo, filled by the loader
        self.plugins: dict[str, Any] = {}
        # plugin name -> its source, for plugins known from the index and not yet imported
        self.sources: dict[str, Any] = {}
        # (kind, short or qualified name) -> why its plugin was quarantined after loading
        self._withdrawn: dict[tuple[str, str], str] = {}
        # tuner engines the kerakit_tuner_engines hook registered, in load order
        self.engines: list[Component] = []

    def add(self, component: Component) -> None:
        """Add a component.

        Raises:
            DuplicateComponentError: if its qualified name is already taken.
        """
        kind = check_kind(component.kind)
        table = self._tables[kind]
        if component.qualified_name in table:
            raise DuplicateComponentError(
                f"Plugin `{component.plugin}` registered the {singular(kind)} `{component.name}` "
                "twice. Each name may be registered once per plugin; rename one of them."
            )
        table[component.qualified_name] = component
        self._short[kind].setdefault(component.name, []).append(component)

    def remove_plugin(self, plugin: str) -> None:
        """Forget every component of ``plugin``."""
        for kind in KINDS:
            table = self._tables[kind]
            for qualified in [q for q, c in table.items() if c.plugin == plugin]:
                component = table.pop(qualified)
                providers = self._short[kind][component.name]
                providers.remove(component)
                if not providers:
                    del self._short[kind][component.name]

    def withdraw_plugin(self, plugin: str, reason: str) -> None:
        """Forget ``plugin``'s components, and answer later lookups of them with ``reason``."""
        for kind in KINDS:
            for component in self._tables[kind].values():
                if component.plugin == plugin:
                    self._withdrawn[(kind, component.qualified_name)] = reason
                    self._withdrawn.setdefault((kind, component.name), reason)
        self.remove_plugin(plugin)
        self.sources.pop(plugin, None)

    def import_plugin(self, plugin: str) -> None:
        """Import ``plugin`` now if it is known only from the index.

        Raises:
            PluginError: if it fails (it is then quarantined).
        """
        source = self.sources.get(plugin)
        if source is not None:
            source.activate()

    def get(self, kind: str, name: str) -> Component:
        """Look up a component by short or qualified name.

        Raises:
            ComponentNotFoundError: with the closest names and how to list all.
            AmbiguousComponentError: naming each provider's qualified name.
            PluginError: if its plugin was quarantined when it was finally imported.
        """
        kind = check_kind(kind)
        plugin, short = check_name(name)
        if plugin is not None:
            found = self._tables[kind].get(f"{plugin}.{short}")
            if found is not None:
                return found
        else:
            providers = self._short[kind].get(short, [])
            if len(providers) == 1:
                return providers[0]
            if len(providers) > 1:
                names = ", ".join(f"`{c.qualified_name}`" for c in providers)
                plugins = ", ".join(
                    f"{c.plugin} ({c.distribution or 'built in'} {c.version or ''})".strip()
                    for c in providers
                )
                raise AmbiguousComponentError(
                    f"The {singular(kind)} name `{short}` is ambiguous: it is provided by "
                    f"{len(providers)} plugins: {plugins}. Use a qualified name instead: {names}."
                )
        withdrawn = self._withdrawn.get((kind, name))
        if withdrawn is not None:
            raise PluginError(f"The {singular(kind)} `{name}` is unavailable: {withdrawn}")
        raise ComponentNotFoundError(self._not_found_message(kind, name))

    def _not_found_message(self, kind: str, name: str) -> str:
        candidates = list(self._tables[kind]) + list(self._short[kind])
        close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
        message = f"Unknown {singular(kind)} `{name}`."
        if close:
            message += " Did you mean " + " or ".join(f"`{c}`" for c in close) + "?"
        elsewhere = [k for k in KINDS if k != kind and self._has(k, name)]
        if elsewhere:
            message += (
                f" `{name}` is registered under {', '.join(elsewhere)}, not {kind}."
            )
        return f"{message} {_LIST_HINT.format(kind=kind)}"

    def _has(self, kind: str, name: str) -> bool:
        return name in self._tables[kind] or name in self._short[kind]

    def __contains__(self, key: tuple[str, str]) -> bool:
        kind, name = key
        return self._has(check_kind(kind), name)

    def list(
        self,
        kind: str | None = None,
        pattern: str | None = None,
        plugin: str | None = None,
    ) -> list[Component]:
        """Components sorted by kind then qualified name.

        Args:
            kind: Only this kind.
            pattern: An fnmatch wildcard matched against the qualified and the
                short name, e.g. ``"*conv*"``.
            plugin: Only this plugin's components.
        """
        kinds: Iterable[str] = KINDS if kind is None else (check_kind(kind),)
        out = []
        for k in kinds:
            for qualified in sorted(self._tables[k]):
                component = self._tables[k][qualified]
                if plugin is not None and component.plugin != plugin:
                    continue
                if pattern is not None and not (
                    fnmatch.fnmatchcase(qualified, pattern)
                    or fnmatch.fnmatchcase(component.name, pattern)
                ):
                    continue
                out.append(component)
        return out

    def counts(self, plugin: str) -> dict[str, int]:
        """Number of components per kind that ``plugin`` provides (kinds with none omitted)."""
        counts: dict[str, int] = {}
        for kind in KINDS:
            n = sum(1 for c in self._tables[kind].values() if c.plugin == plugin)
            if n:
                counts[kind] = n
        return counts


def instantiate(registry: Registry, kind: str, identifier: Any) -> Any:
    """Turn any reference into a component object, as forgiving as ``keras.losses.get``.

    Args:
        registry: Where names are looked up.
        kind: The component kind.
        identifier: ``None``; a short or qualified name; a dict
            ``{"name": ..., "params": {...}}`` or a Keras config dict
            ``{"class_name": ..., "config": {...}}``; a class; or an instance.

    Returns:
        The object, or ``None`` for ``None``.

    Raises:
        ComponentNotFoundError, AmbiguousComponentError: for names.
        InvalidParameterError: for unknown parameters.
        UsageError: for anything else.
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        return registry.get(kind, identifier).create()
    if isinstance(identifier, Mapping):
        if "name" in identifier:
            params = dict(identifier.get("params") or {})
            return registry.get(kind, identifier["name"]).create(**params)
        if "class_name" in identifier:
            return _from_keras_config(registry, kind, identifier)
        raise UsageError(
            f"Invalid {singular(kind)} config. Expected a dict with `name` (and optional `params`) "
            f"or a Keras config with `class_name` and `config`. Received: {dict(identifier)!r}"
        )
    if inspect.isclass(identifier):
        return identifier()
    return identifier


def _from_keras_config(registry: Registry, kind: str, config: Mapping[str, Any]) -> Any:
    class_name = config["class_name"]
    inner = dict(config.get("config") or {})
    for component in registry.list(kind):
        if class_name in (component.name, component.class_name):
            # Only the matching component's plugin is imported.
            obj = component.obj
            from_config = getattr(obj, "from_config", None)
            return from_config(inner) if from_config else component.create(**inner)
    raise ComponentNotFoundError(registry._not_found_message(kind, str(class_name)))
