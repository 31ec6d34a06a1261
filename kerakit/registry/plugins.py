"""What is known about each plugin, and which plugins to load.

:class:`PluginInfo` is one row of ``kerakit plugins``; :class:`PluginControls`
holds the allow / block lists and strict mode, from arguments or the
environment (see :mod:`kerakit.registry.discovery`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BUILTIN_MODULE", "BUILTIN_PLUGIN", "ENTRY_POINT_GROUP", "LOCAL_PLUGIN", "STATUSES",
           "PluginControls", "PluginInfo"]

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


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]
