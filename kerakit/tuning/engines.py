"""Tuner engines: what runs a search, the built-in KerasTuner engine or a plugin's.

A plugin registers an engine through the ``kerakit_tuner_engines`` hook (plugin
API 1.1); ``kerakit.tune(..., engine=NAME)`` and ``kerakit tune --engine NAME``
pick it. The built-in engine, ``keras_tuner``, is the default and is not a
plugin: it lives beside :func:`kerakit.tune` in :mod:`kerakit.tuning.search`.

The hook is called on the plugins the component registry loaded, one plugin
at a time, the first time an engine is looked up. A plugin whose hook raises,
or that registers a name twice, loses its engines with one
:class:`~kerakit.errors.PluginWarning`; the other engines still load.
"""

from __future__ import annotations

import difflib
import importlib
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from kerakit import hookspecs
from kerakit.errors import PluginWarning
from kerakit.registry.discovery import BUILTIN_PLUGIN, LOCAL_PLUGIN, current_registry

if TYPE_CHECKING:
    from kerakit.tuning.search import Search, TuneResult

#: The built-in engine's name: KerasTuner's random, Bayesian, Hyperband and grid tuners.
DEFAULT_ENGINE = "keras_tuner"
_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


class TunerEngine:
    """Base class of tuner engines: runs a checked search and writes its outputs.

    A subclass sets ``tuners`` (the ``tuner=`` values it accepts) and
    ``options`` (the extra keyword options of :func:`kerakit.tune` it takes,
    such as ``storage``), and implements :meth:`search`.

    Example:
        >>> class Exhaustive(TunerEngine):
        ...     tuners = ("grid",)
        >>> Exhaustive().check_request("grid", None, {})
    """

    #: Filled in from the name it was registered under.
    name: str = ""
    tuners: tuple[str, ...] = ("random",)
    options: tuple[str, ...] = ()
    #: Whether ``workers=N`` (N local processes) is supported.
    supports_workers: bool = False
    #: Whether processes of one search share the tuning directory at once (so it
    #: is not locked to one process).
    shares_directory: bool = False

    def check_request(self, tuner: str, workers: int | None,
                      options: Mapping[str, Any]) -> None:
        """Refuse a tuner, worker count or option this engine does not take.

        Called before the declaration and data are checked, so that a typo
        fails fast.

        Raises:
            ValueError: naming what was expected and what was received.
        """
        if tuner not in self.tuners:
            raise ValueError(f"Invalid tuner for the engine `{self.name}`. Expected one of: "
                             f"{', '.join(self.tuners)}. Received: tuner={tuner!r}")
        if workers and not self.supports_workers:
            raise ValueError(f"Invalid workers for the engine `{self.name}`. Expected None: "
                             "scale it out by running the same search in more processes. "
                             f"Received: workers={workers!r}")
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            accepted = ", ".join(self.options) or "none"
            raise ValueError(f"Invalid option for the engine `{self.name}`. Expected one of: "
                             f"{accepted}. Received: {unknown[0]}={options[unknown[0]]!r}")

    def search(self, search: Search, directory: Path, *, overwrite: bool,
               workers: int | None, **options: Any) -> TuneResult:
        """Run (or join, or resume) the search; return its result with the outputs written.

        Args:
            search: The checked search (:func:`kerakit.tuning.search.prepare`):
                declaration, default plan, data, options and objective. Its
                ``trial_plan``, ``trial_started``, ``trial_finished`` and
                ``finish`` are the engine's tools.
            directory: The tuning directory.
            overwrite: Start afresh instead of resuming.
            workers: Local worker processes, when ``supports_workers``.
            **options: The engine's own options (see ``options``).
        """
        raise NotImplementedError(f"The engine `{self.name}` does not implement search().")


@dataclass(frozen=True)
class EngineInfo:
    """One registered engine: its name, the plugin that registered it, and its factory."""

    name: str
    plugin: str
    factory: Callable[[], TunerEngine] | None
    summary: str = ""


_cache: tuple[int, dict[str, list[EngineInfo]]] | None = None


def tuner_engines() -> dict[str, EngineInfo]:
    """Every tuner engine by name: the built-in ``keras_tuner`` and the plugins' engines.

    A name registered by two plugins appears as ``<plugin>.<name>`` for each.

    Example:
        >>> "keras_tuner" in tuner_engines()
        True
    """
    table = {DEFAULT_ENGINE: EngineInfo(DEFAULT_ENGINE, BUILTIN_PLUGIN, None,
                                        "KerasTuner: random, bayesian, hyperband, grid")}
    for name, infos in _plugin_engines().items():
        if len(infos) == 1:
            table[name] = infos[0]
        else:
            table.update({f"{info.plugin}.{name}": info for info in infos})
    return dict(sorted(table.items()))


def get_engine(name: str) -> TunerEngine:
    """A fresh instance of the plugin engine ``name`` (or ``<plugin>.<name>``).

    Raises:
        ValueError: for an unknown name (with the available ones), or a name
            two plugins registered (with how to choose).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"Invalid engine. Expected a name such as {DEFAULT_ENGINE!r}. "
                         f"Received: engine={name!r}")
    engines = _plugin_engines()
    plugin, _, short = name.rpartition(".")
    infos = [i for i in engines.get(short, []) if not plugin or i.plugin == plugin]
    if len(infos) > 1:
        choices = ", ".join(f"{i.plugin}.{short}" for i in infos)
        raise ValueError(f"Ambiguous engine `{short}`: registered by plugins "
                         f"{', '.join(i.plugin for i in infos)}. Expected one of: {choices}. "
                         f"Received: engine={name!r}")
    if not infos:
        known = list(tuner_engines())
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown tuner engine. Expected one of: {', '.join(known)}.{hint} "
                         f"Received: engine={name!r} (engines come from plugins, such as "
                         f"`pip install kerakit-{short.replace('_', '-')}`)")
    info = infos[0]
    engine = info.factory()  # type: ignore[misc]
    if not isinstance(engine, TunerEngine):
        raise ValueError(f"Invalid engine `{name}` from plugin `{info.plugin}`. Expected a "
                         f"kerakit.TunerEngine. Received: {type(engine).__name__}")
    engine.name = info.name
    return engine


def _plugin_engines() -> dict[str, list[EngineInfo]]:
    """Call the engine hook on each loaded plugin once per registry load."""
    global _cache
    registry = current_registry()
    if _cache is not None and _cache[0] == id(registry):
        return _cache[1]
    found: dict[str, list[EngineInfo]] = {}
    failures = []
    for info in registry.plugins.values():
        if info.status != "loaded" or not info.module or info.name in (BUILTIN_PLUGIN,
                                                                         LOCAL_PLUGIN):
            continue
        try:
            for engine in _engines_of(info.name, info.module):
                found.setdefault(engine.name, []).append(engine)
        except Exception as exc:  # one broken plugin never takes the others down
            failures.append(f"plugin `{info.name}`: {type(exc).__name__}: {exc}")
    if failures:
        warnings.warn(f"Tuner engines of {len(failures)} plugin(s) were dropped: "
                      f"{'; '.join(failures)}", PluginWarning, stacklevel=3)
    _cache = (id(registry), found)
    return found


def _engines_of(plugin: str, module_spec: str) -> list[EngineInfo]:
    module_name, _, attr = module_spec.partition(":")
    module: Any = importlib.import_module(module_name.strip())
    for part in filter(None, attr.strip().split(".")):
        module = getattr(module, part)
    if not hasattr(module, hookspecs.hook_name("tuner_engines")):
        return []
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(module, name=plugin)
    staged: dict[str, EngineInfo] = {}

    def register(name: Any, factory: Any = None, **meta: Any) -> None:
        if not isinstance(name, str) or not _NAME.match(name) or name == DEFAULT_ENGINE:
            raise ValueError(f"Invalid engine name. Expected lowercase [a-z][a-z0-9_]*, not "
                             f"{DEFAULT_ENGINE!r}. Received: name={name!r}")
        if not callable(factory):
            raise ValueError(f"Invalid factory for the engine `{name}`. Expected a "
                             f"TunerEngine subclass or factory. Received: {factory!r}")
        if name in staged:
            raise ValueError(f"the engine `{name}` was registered twice")
        summary = meta.get("summary") or (factory.__doc__ or "").strip().split("\n")[0]
        staged[name] = EngineInfo(name, plugin, factory, summary)

    for impl in pm.hook.kerakit_tuner_engines.get_hookimpls():
        impl.function(*[register for _ in impl.argnames])
    return list(staged.values())

