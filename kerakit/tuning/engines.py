"""The tuner-engine registry: engines registered through the ``kerakit_tuner_engines`` hook.

Discovery (:mod:`kerakit.registry.discovery`) calls the hook with the
component hooks, when a plugin is first seen, and keeps what it registered in
the component index; the built-in KerasTuner engine is registered the same
way by the default plugin module :mod:`kerakit.tuning.keras_tuner_engine`.
Listing engines imports no plugin; :func:`get_engine` imports only the
plugin of the engine asked for.

:func:`add_engine_arguments` gives ``kerakit tune`` each engine's own
command-line options without loading the registry (which imports Keras):
it reads the component index to find the plugins that register engines and
imports only those modules.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any

from kerakit.errors import UsageError
from kerakit.registry.discovery import BUILTIN_PLUGIN, current_registry
from kerakit.tuning.contract import TunerEngine

__all__ = ["DEFAULT_ENGINE", "ENGINE_KIND", "EngineInfo", "TunerEngine", "add_engine_arguments",
           "get_engine", "tuner_engines"]

#: The built-in engine's name: KerasTuner's random, Bayesian, Hyperband and grid tuners.
DEFAULT_ENGINE = "keras_tuner"
#: What the engine hook's registrations are filed under (they are not components).
ENGINE_KIND = "tuner_engines"
#: The default plugin module that registers the built-in engine.
DEFAULT_ENGINE_MODULE = "kerakit.tuning.keras_tuner_engine"


@dataclass(frozen=True)
class EngineInfo:
    """One registered engine: its name, the plugin that registered it, its summary.

    Example:
        >>> tuner_engines()["keras_tuner"].plugin
        'kerakit'
    """

    name: str
    plugin: str
    summary: str = ""
    component: Any = field(default=None, compare=False, repr=False)

    @property
    def qualified_name(self) -> str:
        return f"{self.plugin}.{self.name}"


def tuner_engines() -> dict[str, EngineInfo]:
    """Every tuner engine by name, the built-in ``keras_tuner`` included; imports no plugin.

    A name registered by two plugins appears as ``<plugin>.<name>`` for each;
    the built-in ``keras_tuner`` keeps its short name.

    Example:
        >>> "keras_tuner" in tuner_engines()
        True

    Returns:
        Engine names, sorted, to their :class:`EngineInfo`.
    """
    by_name: dict[str, list[Any]] = {}
    for component in getattr(current_registry(), "engines", ()):
        by_name.setdefault(component.name, []).append(component)
    table = {}
    for name, found in by_name.items():
        builtin = [c for c in found if c.plugin == BUILTIN_PLUGIN]
        for c in found:
            short = len(found) == 1 or c in builtin
            info = EngineInfo(c.name, c.plugin, c.summary, c)
            table[name if short else info.qualified_name] = info
    return dict(sorted(table.items()))


def get_engine(name: str) -> TunerEngine:
    """A fresh instance of the engine ``name`` (or ``<plugin>.<name>``); imports only its plugin.

    Example:
        >>> get_engine("keras_tuner").tuners
        ('random', 'bayesian', 'hyperband', 'grid')

    Args:
        name: An engine's name, as :func:`tuner_engines` lists it.

    Returns:
        The engine, with ``name`` set.

    Raises:
        UsageError: for an unknown name (with the available ones), a name two
            plugins registered (with how to choose), or a factory that does
            not return a :class:`TunerEngine`.
        PluginError: if the engine's plugin fails when it is imported.
    """
    if not isinstance(name, str) or not name:
        raise UsageError(f"Invalid value for argument `engine`. Expected a name such as "
                         f"{DEFAULT_ENGINE!r}. Received: engine={name!r}")
    table = tuner_engines()
    info = table.get(name) or next((i for i in table.values() if i.qualified_name == name), None)
    if info is None:
        raise UsageError(_unknown(name, table))
    engine = info.component.obj()
    if not isinstance(engine, TunerEngine):
        raise UsageError(f"Invalid engine `{name}` from plugin `{info.plugin}`. Expected a "
                         f"kerakit.TunerEngine. Received: {type(engine).__name__}")
    engine.name = info.name
    return engine


def _unknown(name: str, table: dict[str, EngineInfo]) -> str:
    short = name.rpartition(".")[2]
    twins = [k for k, i in table.items() if i.name == short and k != short]
    if twins:
        return (f"Ambiguous engine `{short}`: registered by plugins "
                f"{', '.join(table[k].plugin for k in twins)}. Expected one of: "
                f"{', '.join(twins)}. Received: engine={name!r}")
    close = difflib.get_close_matches(name, list(table), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (f"Unknown tuner engine. Expected one of: {', '.join(table)}.{hint} "
            f"Received: engine={name!r} (engines come from plugins, such as "
            f"`pip install kerakit-{short.replace('_', '-')}`)")


def add_engine_arguments(parser: argparse.ArgumentParser, engine: str | None = None
                         ) -> dict[str, list[str]]:
    """Add each engine's own options (or only ``engine``'s) to ``parser``, one group each.

    Reads the component index, so it imports neither Keras nor the plugins
    that register no engine; a plugin not indexed yet is imported to look.
    An engine whose options clash with ones already there is left out.

    Example:
        >>> parser = argparse.ArgumentParser()
        >>> add_engine_arguments(parser, "keras_tuner")
        {'keras_tuner': []}

    Args:
        parser: The ``kerakit tune`` parser.
        engine: Only this engine (its short name), or every engine.

    Returns:
        Each engine's name to the ``dest`` of every option it added.
    """
    added: dict[str, list[str]] = {}
    for name, plugin, cls in _engine_classes():
        if engine is not None and engine not in (name, f"{plugin}.{name}"):
            continue
        group = parser.add_argument_group(f"options of the {name} engine ({plugin})")
        before = len(parser._actions)
        try:
            cls.add_arguments(group)
        except argparse.ArgumentError:
            continue  # the same flag as another engine's: that engine keeps it
        added[name] = [action.dest for action in parser._actions[before:]]
    return added


def _engine_classes() -> list[tuple[str, str, type[TunerEngine]]]:
    """``(name, plugin, class)`` of each engine, read without loading the registry."""
    from kerakit.registry.discovery import PluginControls
    from kerakit.registry.index import ComponentIndex, entry_key
    from kerakit.registry.loader import entry_points

    found = _hook_engines(BUILTIN_PLUGIN, importlib.import_module(DEFAULT_ENGINE_MODULE))
    controls, index = PluginControls.resolve(), ComponentIndex.open()
    points = entry_points()
    for ep in points:
        if ep.name in controls.block or not controls.autoload or (
                controls.only is not None and ep.name not in controls.only):
            continue
        dist = getattr(ep, "dist", None)
        same = [f"{p.name} = {p.value}" for p in points if _where(p) == _where(ep)]
        keyed = entry_key(ep.name, ep.value, dist, same) if dist is not None else None
        entry = index.lookup(keyed[0]) if keyed else None
        if entry is not None and not any(row.get("kind") == ENGINE_KIND
                                         for row in entry.get("components", ())):
            continue  # indexed, and no engine: not imported
        try:
            found += _hook_engines(ep.name, ep.load())
        except Exception:  # commands that load plugins report it
            continue
    return found


def _where(ep: Any) -> str:
    # a distribution's location, as discovery groups its entry points for the index key
    return str(getattr(getattr(ep, "dist", None), "_path", ""))


def _hook_engines(plugin: str, module: Any) -> list[tuple[str, str, type[TunerEngine]]]:
    hook = getattr(module, "kerakit_tuner_engines", None)
    if hook is None:
        return []
    registered: list[tuple[str, Any]] = []
    hook(lambda name, factory=None, **meta: registered.append((name, factory)))
    out = []
    for name, factory in registered:
        try:
            engine = factory if isinstance(factory, type) else type(factory())
        except Exception:  # reported when the engine is used
            continue
        if isinstance(engine, type) and issubclass(engine, TunerEngine):
            out.append((name, plugin, engine))
    return out
