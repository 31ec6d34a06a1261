"""The public API: every name in __all__ resolves, and no submodule shadows a function."""

from __future__ import annotations

import importlib
import pkgutil
import types

import kerakit


def test_every_public_name_resolves_even_after_importing_every_module():
    for info in pkgutil.walk_packages(kerakit.__path__, "kerakit."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
    for name in kerakit.__all__:
        value = getattr(kerakit, name)
        if name != "hp":
            assert not isinstance(value, types.ModuleType), name
    assert isinstance(kerakit.hp, types.ModuleType) and kerakit.hp.OneOf
