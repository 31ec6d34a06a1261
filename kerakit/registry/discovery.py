"""Plugin discovery and loading: entry points, allow / block lists, quarantine.

Plugins are modules named under the ``kerakit`` entry-point group; the entry
point's name is the plugin's name. The built-in components are the plugin
``kerakit``, loaded through the same hooks. A third-party plugin that fails in
any way is quarantined: its components are dropped, every other plugin still
loads, and one :class:`~kerakit.errors.PluginWarning` says what happened.
Strict mode turns the first failure into a :class:`~kerakit.errors.PluginError`.

A plugin is imported once, the first time it is seen; what it registers is then
kept in the component index (:mod:`kerakit.registry.index`), and later
processes list, look up and check its components from there. Its module is
imported only when one of its components is created, built or reloaded. If it
fails then, it is quarantined at that moment, with the same warning and status,
and the use that needed it gets a :class:`~kerakit.errors.PluginError`.
Strict mode imports every plugin at load, as does :func:`import_all_plugins`.

Controls (arguments of :func:`load_plugins`, or environment variables):

- ``KERAKIT_DISABLE_PLUGIN_AUTOLOAD=1`` / ``autoload=False``: built-ins only.
- ``KERAKIT_PLUGINS=a,b`` / ``only=["a", "b"]``: only these third-party plugins.
- ``KERAKIT_BLOCK_PLUGINS=a,b`` / ``block=["a", "b"]``: never these.
- ``KERAKIT_STRICT=1`` / ``strict=True``: any failure is an error, and every
  plugin is imported at load instead of at first use.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.metadata as metadata
import os
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from kerakit import hookspecs
from kerakit.errors import DuplicateComponentError, PluginError, PluginWarning
from kerakit.hookspecs import singular
from kerakit.registry.index import ComponentIndex, entry_key, indexed_components
from kerakit.registry.table import Component, Registry, make_component

ENTRY_POINT_GROUP = "kerakit"
BUILTIN_PLUGIN = "kerakit"
BUILTIN_MODULE = "kerakit.builtins.plugin"
LOCAL_PLUGIN = "local"
STATUSES = ("loaded", "failed", "blocked", "disabled")


@dataclass
class PluginInfo:
    """What ``kerakit plugins`` reports for one plugin."""

    name: str
    distribution: str | None
    version: str | None
    status: str
    error: str | None = None
    components: dict[str, int] = field(default_factory=dict)
    module: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "components": dict(self.components),
        }


@dataclass(frozen=True)
class PluginControls:
    """Which plugins to load; built from arguments, falling back to the environment."""

    autoload: bool = True
    only: frozenset[str] | None = None
    block: frozenset[str] = frozenset()
    strict: bool = False

    @classmethod
    def resolve(
        cls,
        autoload: bool | None = None,
        only: Iterable[str] | None = None,
        block: Iterable[str] | None = None,
        strict: bool | None = None,
    ) -> PluginControls:
        env = os.environ
        if autoload is None:
            autoload = not _truthy(env.get("KERAKIT_DISABLE_PLUGIN_AUTOLOAD"))
        if only is None and env.get("KERAKIT_PLUGINS", "").strip():
            only = _split(env["KERAKIT_PLUGINS"])
        if block is None:
            block = _split(env.get("KERAKIT_BLOCK_PLUGINS", ""))
        if strict is None:
            strict = _truthy(env.get("KERAKIT_STRICT"))
        return cls(
            autoload=bool(autoload),
            only=None if only is None else frozenset(only),
            block=frozenset(block),
            strict=bool(strict),
        )


_cache: tuple[PluginControls, Registry] | None = None
# Components registered from user code with kerakit.register_component();
# re-added to every freshly loaded registry.
_local_components: list[Component] = []


def load_plugins(
    *,
    autoload: bool | None = None,
    only: Iterable[str] | None = None,
    block: Iterable[str] | None = None,
    strict: bool | None = None,
    reload: bool = False,
) -> Registry:
    """Discover and load plugins, once per process and set of controls.

    Args:
        autoload: ``False`` loads the built-ins only.
        only: Names of the only third-party plugins to load.
        block: Names of plugins never to load.
        strict: Raise on the first plugin failure instead of quarantining.
        reload: Rescan entry points and load again even if already loaded.

    Returns:
        The filled :class:`~kerakit.registry.table.Registry`; its ``plugins`` attribute
        maps each plugin name to its :class:`PluginInfo`.

    Raises:
        PluginError: in strict mode, for the first plugin that fails.

    Example:
        >>> registry = load_plugins(autoload=False)
        >>> registry.plugins["kerakit"].status
        'loaded'
    """
    global _cache
    controls = PluginControls.resolve(autoload, only, block, strict)
    if not reload and _cache is not None and _cache[0] == controls:
        return _cache[1]
    if reload:
        _entry_points.cache_clear()
    registry = _Loader(controls).load()
    _cache = (controls, registry)
    return registry


def current_registry() -> Registry:
    """The registry of the last load, loading with the environment's controls if none."""
    return _cache[1] if _cache is not None else load_plugins()


def import_all_plugins() -> list[PluginInfo]:
    """Import now every plugin that is known only from the component index.

    This is ``kerakit plugins --check``: a plugin that fails on import is
    quarantined now rather than at first use.

    Returns:
        Every plugin that failed, at load or now.

    Example:
        >>> [info.name for info in import_all_plugins() if info.name == "kerakit"]
        []
    """
    registry = current_registry()
    for source in list(registry.sources.values()):
        with contextlib.suppress(PluginError):  # quarantined, warned about, reported below
            source.activate()
    return [info for info in registry.plugins.values() if info.status == "failed"]


def add_local_component(component: Component) -> None:
    """Register a component defined in user code, in this process only."""
    registry = current_registry()
    registry.add(component)
    _local_components.append(component)
    info = registry.plugins.setdefault(
        LOCAL_PLUGIN, PluginInfo(LOCAL_PLUGIN, None, None, "loaded", module="__main__")
    )
    info.components = registry.counts(LOCAL_PLUGIN)


def local_component_count() -> int:
    """How many components user code has registered with ``register_component``."""
    return len(_local_components)


def forget_local_components(keep: int = 0) -> None:
    """Unregister the components user code registered after the first ``keep``.

    Tests use it to undo their ``register_component`` calls.
    """
    del _local_components[keep:]
    if _cache is None:
        return
    registry = _cache[1]
    registry.remove_plugin(LOCAL_PLUGIN)
    for component in _local_components:
        registry.add(component)
    if _local_components:
        registry.plugins[LOCAL_PLUGIN].components = registry.counts(LOCAL_PLUGIN)
    else:
        registry.plugins.pop(LOCAL_PLUGIN, None)


class _Loader:
    """One load: a fresh pluggy manager, registry and plugin table."""

    def __init__(self, controls: PluginControls) -> None:
        self.controls = controls
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.registry.plugins = {}
        self.failures: list[PluginInfo] = []
        self.index = ComponentIndex.open()

    def load(self) -> Registry:
        from kerakit._version import __version__

        builtin = PluginInfo(
            BUILTIN_PLUGIN, "kerakit", __version__, "loaded", module=BUILTIN_MODULE
        )
        self._load_one(builtin, lambda: importlib.import_module(BUILTIN_MODULE), builtin=True)
        points = _entry_points()
        by_dist: dict[str, list[str]] = {}
        for ep in points:
            by_dist.setdefault(_dist_location(ep), []).append(f"{ep.name} = {ep.value}")
        for ep in points:
            self._consider(ep, by_dist.get(_dist_location(ep), []))
        self.index.save()
        for component in _local_components:
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
            source = _LazyPlugin(self, info, ep)
            try:
                for component in indexed_components(entry, source):
                    self.registry.add(component)
            except (KeyError, TypeError, ValueError, AttributeError):
                self.registry.remove_plugin(info.name)  # a damaged entry: import instead
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
                self.registry.add(component)
        except Exception as exc:
            if builtin:
                raise
            if self.pm.get_plugin(info.name) is not None:
                self.pm.unregister(name=info.name)
            self.registry.remove_plugin(info.name)
            self._mark_failed(info, exc)
            self._fail(info, exc)
            return None
        info.components = self.registry.counts(info.name)
        return staged

    def activate(self, source: _LazyPlugin) -> None:
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
        for kind in hookspecs.KINDS:
            caller = getattr(self.pm.hook, hookspecs.hook_name(kind))
            for impl in caller.get_hookimpls():
                if impl.plugin_name != info.name:
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


class _LazyPlugin:
    """A plugin known from the component index, imported the first time it is needed."""

    def __init__(self, loader: _Loader, info: PluginInfo, entry_point: metadata.EntryPoint):
        self.loader = loader
        self.info = info
        self.entry_point = entry_point
        self.imported = False
        self.failure: str | None = None
        self.objects: dict[tuple[str, str], Any] = {}
        self._lock = threading.RLock()

    def __deepcopy__(self, memo: dict[int, Any]) -> _LazyPlugin:
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
def _entry_points() -> tuple[metadata.EntryPoint, ...]:
    # Scanning every installed distribution is slow; do it once per process.
    return tuple(sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name))


def _dist_location(ep: metadata.EntryPoint) -> str:
    return str(getattr(getattr(ep, "dist", None), "_path", ""))


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]
