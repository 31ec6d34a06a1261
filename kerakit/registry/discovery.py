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
from collections.abc import Iterable

from kerakit.errors import PluginError
from kerakit.registry.loader import Loader, entry_points

# What a plugin is and which to load; importable from here as they always were.
from kerakit.registry.plugins import (
    BUILTIN_MODULE,
    BUILTIN_PLUGIN,
    ENTRY_POINT_GROUP,
    LOCAL_PLUGIN,
    STATUSES,
    PluginControls,
    PluginInfo,
)
from kerakit.registry.table import Component, Registry

__all__ = ["BUILTIN_MODULE", "BUILTIN_PLUGIN", "ENTRY_POINT_GROUP", "LOCAL_PLUGIN", "STATUSES",
           "PluginControls", "PluginInfo", "add_local_component", "current_registry",
           "forget_local_components", "import_all_plugins", "load_plugins",
           "local_component_count"]

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
        entry_points.cache_clear()
    registry = Loader(controls, _local_components).load()
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
