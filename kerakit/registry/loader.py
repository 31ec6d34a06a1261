"""One load of the plugins: import or index each, call its hooks, quarantine failures.

:class:`Loader` runs one load with a fresh pluggy manager and registry. A
plugin found in the component index is not imported: its components resolve
through a :class:`LazyPlugin`, which imports it the first time one is needed.
Registrations are staged per plugin, so a plugin that fails halfway leaves
nothing behind. :mod:`kerakit.registry.discovery` decides when to load.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata as metadata
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import pluggy

from kerakit import hookspecs
from kerakit.errors import DuplicateComponentError, PluginError, PluginWarning
from kerakit.hookspecs import singular
from kerakit.registry.index import ComponentIndex, entry_key, indexed_components
from kerakit.registry.plugins import (
    BUILTIN_MODULE,
    BUILTIN_PLUGIN,
    ENTRY_POINT_GROUP,
    PluginControls,
    PluginInfo,
)
from kerakit.registry.table import Component, Registry, make_component

__all__ = ["LazyPlugin", "Loader", "entry_points"]

#: What the ``kerakit_tuner_engines`` hook registers: kept in ``Registry.engines``, not
#: in the component tables (engines are not components), and indexed like components.
ENGINE_KIND = "tuner_engines"
#: Default plugin modules above the registry, registered as part of the plugin ``kerakit``
#: (as datasette's DEFAULT_PLUGINS): the built-in KerasTuner engine.
DEFAULT_MODULES = ("kerakit.tuning.keras_tuner_engine",)


class Loader:
    """One load: a fresh pluggy manager, registry and plugin table."""

    def __init__(self, controls: PluginControls, local: Sequence[Component] = ()) -> None:
        self.controls = controls
        self.local = local  # components user code registered, added to every fresh registry
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.registry.plugins = {}
        self.registry.engines = []
        self.failures: list[PluginInfo] = []
        self.index = ComponentIndex.open()

    def load(self) -> Registry:
        from kerakit._version import __version__

        builtin = PluginInfo(
            BUILTIN_PLUGIN, "kerakit", __version__, "loaded", module=BUILTIN_MODULE
        )
        self._load_one(builtin, self._import_builtins, builtin=True)
        points = entry_points()
        by_dist: dict[str, list[str]] = {}
        for ep in points:
            by_dist.setdefault(_dist_location(ep), []).append(f"{ep.name} = {ep.value}")
        for ep in points:
            self._consider(ep, by_dist.get(_dist_location(ep), []))
        self.index.save()
        for component in self.local:
            self.registry.add(component)
        if self.failures:
            lines = "; ".join(f"{info.error}" for info in self.failures)
            warnings.warn(
                f"{len(self.failures)} kerakit plugin(s) quarantined, the others loaded: {lines}. "
                "Run `kerakit plugins` for details.",
                PluginWarning,
                stacklevel=3,
            )
        return self.registry

    def _consider(self, ep: metadata.EntryPoint, dist_entry_points: list[str]) -> None:
        dist = getattr(ep, "dist", None)
        info = PluginInfo(
            ep.name,
            dist.name if dist is not None else None,
            dist.version if dist is not None else None,
            "loaded",
            module=ep.value,
        )
        if ep.name in self.registry.plugins:
            other = self.registry.plugins[ep.name]
            info.status, info.error = "failed", (
                f"plugin `{ep.name}` ({info.distribution}): the name is already taken by "
                f"{other.distribution or 'kerakit'}; rename the entry point"
            )
            self._fail(info, None)
            # A clash keeps the first plugin's row; the loser is reported under a unique key.
            self.registry.plugins[f"{ep.name}@{info.distribution}"] = info
            return
        self.registry.plugins[ep.name] = info
        if ep.name in self.controls.block:
            info.status = "blocked"
        elif not self.controls.autoload or (
            self.controls.only is not None and ep.name not in self.controls.only
        ):
            info.status = "disabled"
        else:
            self._load_or_index(info, ep, dist_entry_points)

    def _load_or_index(
        self, info: PluginInfo, ep: metadata.EntryPoint, dist_entry_points: list[str]
    ) -> None:
        dist = getattr(ep, "dist", None)
        keyed = entry_key(ep.name, ep.value, dist, dist_entry_points) if dist else None
        entry = self.index.lookup(keyed[0]) if keyed and not self.controls.strict else None
        if entry is not None and entry.get("plugin") == info.name:
            source = LazyPlugin(self, info, ep)
            try:
                for component in indexed_components(entry, source):
                    self._add(component)
            except (KeyError, TypeError, ValueError, AttributeError):
                self._remove(info.name)  # a damaged entry: import instead
            else:
                self.registry.sources[info.name] = source
                info.components = self.registry.counts(info.name)
                return
        staged = self._load_one(info, ep.load)
        if staged is not None and keyed is not None:
            self.index.record(keyed[0], keyed[1], info, staged)

    def _load_one(
        self, info: PluginInfo, import_module: Callable[[], Any], builtin: bool = False
    ) -> list[Component] | None:
        self.registry.plugins[info.name] = info
        try:
            staged = self._import(info, import_module)
            for component in staged:
                self._add(component)
        except Exception as exc:
            if builtin:
                raise
            if self.pm.get_plugin(info.name) is not None:
                self.pm.unregister(name=info.name)
            self._remove(info.name)
            self._mark_failed(info, exc)
            self._fail(info, exc)
            return None
        info.components = self.registry.counts(info.name)
        return staged

    def _add(self, component: Component) -> None:
        if component.kind == ENGINE_KIND:
            self.registry.engines.append(component)
        else:
            self.registry.add(component)

    def _remove(self, plugin: str) -> None:
        self.registry.remove_plugin(plugin)
        self.registry.engines[:] = [e for e in self.registry.engines if e.plugin != plugin]

    def _import_builtins(self) -> Any:
        for module in DEFAULT_MODULES:  # their hooks count as the plugin `kerakit`'s
            self.pm.register(importlib.import_module(module), name=f"{BUILTIN_PLUGIN}:{module}")
        return importlib.import_module(BUILTIN_MODULE)

    def activate(self, source: LazyPlugin) -> None:
        """Import an indexed plugin at first use; quarantine it now if that fails."""
        info = source.info
        try:
            staged = self._import(info, source.entry_point.load)
        except Exception as exc:
            if self.pm.get_plugin(info.name) is not None:
                self.pm.unregister(name=info.name)
            self._mark_failed(info, exc)
            self.registry.withdraw_plugin(info.name, info.error or "")
            info.components = {}
            source.failure = info.error
            warnings.warn(
                f"1 kerakit plugin(s) quarantined, the others loaded: {info.error}. "
                "Run `kerakit plugins` for details.",
                PluginWarning,
                stacklevel=5,
            )
            raise PluginError(info.error) from exc
        source.objects = {(c.kind, c.name): c.obj for c in staged}
        source.imported = True
        self.registry.sources.pop(info.name, None)

    def _import(self, info: PluginInfo, import_module: Callable[[], Any]) -> list[Component]:
        try:
            module = import_module()
        except Exception as exc:
            raise PluginError(f"cannot import `{info.module}`: {_describe(exc)}") from exc
        _check_api(module)
        self.pm.register(module, name=info.name)
        self.pm.check_pending()
        return self._call_hooks(info)

    def _mark_failed(self, info: PluginInfo, exc: BaseException) -> None:
        info.status = "failed"
        reason = str(exc) if isinstance(exc, PluginError) else _describe(exc)
        info.error = f"plugin `{info.name}` ({info.distribution} {info.version}): {reason}"

    def _call_hooks(self, info: PluginInfo) -> list[Component]:
        staged: list[Component] = []
        seen: set[tuple[str, str]] = set()
        for kind in (*hookspecs.KINDS, ENGINE_KIND):
            caller = getattr(self.pm.hook, hookspecs.hook_name(kind))
            for impl in caller.get_hookimpls():
                if impl.plugin_name.partition(":")[0] != info.name:
                    continue

                def register(name: Any, obj: Any = None, _kind: str = kind, **meta: Any) -> None:
                    component = make_component(
                        _kind, name, obj, info.name, info.distribution, info.version, meta
                    )
                    if (_kind, component.name) in seen:
                        raise DuplicateComponentError(
                            f"Plugin `{info.name}` registered the {singular(_kind)} "
                            f"`{component.name}` twice. Each name may be registered once per "
                            "plugin; rename one of them."
                        )
                    seen.add((_kind, component.name))
                    staged.append(component)

                try:
                    impl.function(*[register for _ in impl.argnames])
                except Exception as exc:
                    raise PluginError(
                        f"hook `{hookspecs.hook_name(kind)}` raised {_describe(exc)}"
                    ) from exc
        return staged

    def _fail(self, info: PluginInfo, exc: BaseException | None) -> None:
        if self.controls.strict:
            raise PluginError(f"Strict mode: {info.error}") from exc
        self.failures.append(info)


class LazyPlugin:
    """A plugin known from the component index, imported the first time it is needed."""

    def __init__(self, loader: Loader, info: PluginInfo, entry_point: metadata.EntryPoint):
        self.loader = loader
        self.info = info
        self.entry_point = entry_point
        self.imported = False
        self.failure: str | None = None
        self.objects: dict[tuple[str, str], Any] = {}
        self._lock = threading.RLock()

    def __deepcopy__(self, memo: dict[int, Any]) -> LazyPlugin:
        return self  # one per plugin and process: a copied component still imports it once

    def activate(self) -> None:
        """Import the plugin and run its hooks, once.

        Raises:
            PluginError: naming the plugin, its distribution and the original error.
        """
        with self._lock:
            if self.imported:
                return
            if self.failure is not None:
                raise PluginError(self.failure)
            self.loader.activate(self)

    def resolve(self, kind: str, name: str) -> Any:
        qualified = f"{self.info.name}.{name}"
        try:
            self.activate()
        except PluginError as exc:
            raise PluginError(f"The {singular(kind)} `{qualified}` cannot be used: {exc}") from (
                exc.__cause__ or exc)
        try:
            return self.objects[(kind, name)]
        except KeyError:
            raise PluginError(
                f"plugin `{self.info.name}` ({self.info.distribution} {self.info.version}) no "
                f"longer registers the {singular(kind)} `{qualified}` that its index lists. Run "
                "`kerakit plugins --check`."
            ) from None


def _check_api(module: Any) -> None:
    """Quarantine a plugin that declares plugin-API versions this kerakit lacks.

    ``KERAKIT_PLUGIN_API`` lists supported majors (``1``) or minimum
    ``"MAJOR.MINOR"`` versions (``"1.1"``); one of them must be met.
    """
    supported = getattr(module, "KERAKIT_PLUGIN_API", None)
    if supported is None:
        return
    versions = [supported] if isinstance(supported, (int, str)) else list(supported)
    ours = (hookspecs.PLUGIN_API_VERSION, hookspecs.PLUGIN_API_MINOR)
    for version in versions:
        major, _, minor = str(version).partition(".")
        if major.isdigit() and int(major) == ours[0] and (
                not minor or (minor.isdigit() and int(minor) <= ours[1])):
            return
    raise PluginError(
        f"incompatible plugin API. Expected a plugin supporting version "
        f"{ours[0]}.{ours[1]} (or an earlier minor of {ours[0]}). "
        f"Received: KERAKIT_PLUGIN_API={supported!r}"
    )


@functools.lru_cache(maxsize=1)
def entry_points() -> tuple[metadata.EntryPoint, ...]:
    """The ``kerakit`` entry points of every installed distribution, by name."""
    # Scanning every installed distribution is slow; do it once per process.
    return tuple(sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name))


def _dist_location(ep: metadata.EntryPoint) -> str:
    return str(getattr(getattr(ep, "dist", None), "_path", ""))


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
