"""Component kinds and names: what ``register`` and every lookup accept.

A short name is lowercase letters, digits and underscores, starting with a
letter (``conv_block``); a qualified name puts the plugin in front
(``vision.mixup``).
"""

from __future__ import annotations

import re

from kerakit.errors import UsageError
from kerakit.hookspecs import KINDS, singular

__all__ = ["PLUGIN_NAME", "SHORT_NAME", "check_kind", "check_name"]

SHORT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
PLUGIN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def check_kind(kind: str) -> str:
    """Return ``kind`` if it is a known component kind.

    Accepts the singular too (``"loss"`` for ``"losses"``).

    Example:
        >>> check_kind("loss")
        'losses'

    Raises:
        UsageError: for an unknown kind, listing the valid ones.
    """
    if kind in KINDS:
        return kind
    for known in KINDS:
        if kind == singular(known):
            return known
    raise UsageError(
        f"Invalid component kind. Expected one of: {', '.join(KINDS)}. Received: kind={kind!r}"
    )


def check_name(name: object) -> tuple[str | None, str]:
    """Split ``name`` into ``(plugin or None, short name)``.

    Raises:
        UsageError: if the name is not ``name`` or ``plugin.name``.
    """
    if isinstance(name, str):
        plugin, _, short = name.rpartition(".")
        if SHORT_NAME.match(short) and (not plugin or PLUGIN_NAME.match(plugin)):
            return plugin or None, short
    raise UsageError(
        "Invalid component name. Expected `name` or `plugin.name`, the name in lowercase "
        f"letters, digits and underscores (e.g. 'conv_block', 'vision.mixup'). Received: {name!r}"
    )
