"""The component index: what each installed plugin registers, cached so listing imports nothing.

A plugin's entry in the index holds the names, kinds, summaries, parameters
with their defaults, docstrings and metadata of every component it registers.
The entry is written the first time the plugin is imported and read by every
later process, which then imports the plugin only when one of its components
is created, built or reloaded.

An entry is keyed by everything that could change what the plugin registers
without its code being looked at: the plugin and entry-point names, the
distribution's name, version, location and modification time, all its
``kerakit`` entry points, and kerakit's own version and plugin API. A change to
any of them gives a new key, so a stale entry is never read; it is pruned at the
next write. The file lives in ``$KERAKIT_CACHE_DIR``, else
``$XDG_CACHE_HOME/kerakit``, else ``~/.cache/kerakit``, and is replaced
atomically. A plugin whose metadata or defaults cannot be written as JSON is
simply not indexed: it is imported at every load, as without an index.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kerakit import hookspecs
from kerakit.errors import NotIndexable
from kerakit.fileops import write_atomic
from kerakit.registry.table import Component, Facts, Parameter, PluginSource

INDEX_FORMAT = 2  # 2: entries hold tuner engines too
INDEX_FILE = f"component-index-v{INDEX_FORMAT}.json"


def cache_dir() -> Path:
    """Where kerakit caches the component index.

    ``KERAKIT_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/kerakit``, else
    ``~/.cache/kerakit``.

    Example:
        >>> import os
        >>> from unittest import mock
        >>> with mock.patch.dict(os.environ, {"KERAKIT_CACHE_DIR": "/tmp/kk-cache"}):
        ...     print(cache_dir())
        /tmp/kk-cache
    """
    explicit = os.environ.get("KERAKIT_CACHE_DIR", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "kerakit"


def distribution_stamp(dist: Any) -> tuple[str, int] | None:
    """The installed location of ``dist`` and its modification time, or ``None``."""
    location = getattr(dist, "_path", None)
    if location is None:
        return None
    try:
        return str(location), os.stat(location).st_mtime_ns
    except OSError:
        return None


def entry_key(
    plugin: str, module: str, dist: Any, entry_points: Iterable[str]
) -> tuple[str, dict[str, Any]] | None:
    """The index key of one plugin, and the stamp that goes with it; ``None`` if unkeyable.

    Args:
        plugin: The entry point's name.
        module: The entry point's value.
        dist: Its distribution (``importlib.metadata.Distribution``).
        entry_points: Every ``kerakit`` entry point of that distribution, as text.
    """
    from kerakit._version import __version__

    stamp = distribution_stamp(dist)
    if stamp is None:
        return None
    facts = [INDEX_FORMAT, __version__, hookspecs.PLUGIN_API_VERSION, hookspecs.PLUGIN_API_MINOR,
             plugin, module, dist.name, dist.version, stamp[0], stamp[1], sorted(entry_points)]
    digest = hashlib.sha256(json.dumps(facts).encode()).hexdigest()[:32]
    return digest, {"path": stamp[0], "mtime_ns": stamp[1]}


class ComponentIndex:
    """The index file, read once per load and written back only if it changed.

    Example:
        >>> index = ComponentIndex(Path("/nonexistent/index.json"))
        >>> index.lookup("0" * 32) is None
        True
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        self.changed = False

    @classmethod
    def open(cls, directory: Path | None = None) -> ComponentIndex:
        """Read the index in ``directory`` (default :func:`cache_dir`); unreadable is empty."""
        index = cls((directory or cache_dir()) / INDEX_FILE)
        try:
            data = json.loads(index.path.read_text())
        except (OSError, ValueError):
            return index
        if isinstance(data, dict) and data.get("format") == INDEX_FORMAT and isinstance(
                data.get("plugins"), dict):
            index.entries = data["plugins"]
        return index

    def lookup(self, key: str) -> dict[str, Any] | None:
        entry = self.entries.get(key)
        return entry if isinstance(entry, dict) else None

    def record(self, key: str, stamp: Mapping[str, Any], info: Any,
               components: Iterable[Component]) -> bool:
        """Add the entry of a plugin that was just imported; ``False`` if it cannot be indexed."""
        try:
            rows = [_component_row(c) for c in components]
        except NotIndexable:
            return False
        self.entries[key] = {
            "plugin": info.name, "distribution": info.distribution, "version": info.version,
            "module": info.module, "dist": dict(stamp), "components": rows,
        }
        self.changed = True
        return True

    def save(self) -> None:
        """Prune entries whose distribution is gone or changed; write atomically if changed.

        A cache that cannot be written is no error: the next process imports again.
        """
        kept = {k: e for k, e in self.entries.items() if _still_installed(e)}
        if not self.changed and len(kept) == len(self.entries):
            return
        self.entries = kept
        text = json.dumps({"format": INDEX_FORMAT, "plugins": self.entries}, sort_keys=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, text)
        except OSError:
            return
        self.changed = False


def indexed_components(entry: Mapping[str, Any], source: PluginSource) -> list[Component]:
    """The components of an index entry, each resolving its object through ``source``."""
    out = []
    for row in entry["components"]:
        facts = Facts(
            parameters=tuple(_parameter(p) for p in row["parameters"]),
            valid_parameter_names=tuple(row["valid_parameter_names"]),
            accepts_any_parameter=bool(row["accepts_any_parameter"]),
            doc=row["doc"],
            class_name=row["class_name"],
        )
        out.append(Component(
            kind=row["kind"], name=row["name"], plugin=entry["plugin"], summary=row["summary"],
            distribution=entry["distribution"], version=entry["version"],
            metadata=_decode(row["metadata"]), _facts=facts, _source=source,
        ))
    return out


def _component_row(component: Component) -> dict[str, Any]:
    facts = component.facts
    return {
        "kind": component.kind,
        "name": component.name,
        "summary": component.summary,
        "metadata": _encode(dict(component.metadata), strict=True),
        "parameters": [
            {"name": p.name, "annotation": p.annotation, "required": p.required,
             "default": None if p.required else _encode(p.default, strict=False)}
            for p in facts.parameters
        ],
        "valid_parameter_names": list(facts.valid_parameter_names),
        "accepts_any_parameter": facts.accepts_any_parameter,
        "doc": facts.doc,
        "class_name": facts.class_name,
    }


class _Shown:
    """A default that JSON cannot hold, kept as its ``repr`` for display."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _parameter(row: Mapping[str, Any]) -> Parameter:
    if row["required"]:
        return Parameter(row["name"], annotation=row["annotation"])
    return Parameter(row["name"], _decode(row["default"]), row["annotation"])


def _encode(value: Any, strict: bool) -> Any:
    # Tuples are tagged so that metadata such as input_shape=(6,) comes back a tuple.
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return {"__float__": repr(value)}
        return value
    if isinstance(value, list):
        return [_encode(v, strict) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, strict) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value) and not any(
            k.startswith("__") and k.endswith("__") for k in value):
        return {k: _encode(v, strict) for k, v in value.items()}
    if strict:
        raise NotIndexable(f"{type(value).__name__} {value!r:.60}")
    return {"__repr__": repr(value)}


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__tuple__"}:
            return tuple(_decode(v) for v in value["__tuple__"])
        if set(value) == {"__float__"}:
            return float(value["__float__"])
        if set(value) == {"__repr__"}:
            return _Shown(value["__repr__"])
        return {k: _decode(v) for k, v in value.items()}
    return value


def _still_installed(entry: Mapping[str, Any]) -> bool:
    dist = entry.get("dist") or {}
    try:
        return os.stat(dist["path"]).st_mtime_ns == dist["mtime_ns"]
    except (OSError, KeyError, TypeError):
        return False
