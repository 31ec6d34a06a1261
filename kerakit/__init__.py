"""kerakit: pluggable Keras training.

Components come from pip-installed plugins and the built-ins; declare a model
from them by name, train it with Keras ``fit()``, tune it with KerasTuner and
export it as a TensorFlow SavedModel.

Importing kerakit is cheap: Keras and TensorFlow load on first use of a
function that needs them.
"""

from __future__ import annotations

import importlib
from typing import Any

from kerakit import hp
from kerakit.hookspecs import KINDS, PLUGIN_API_VERSION, hookimpl

__version__ = "0.1.0"

# public name -> module that defines it, imported on first access
_LAZY = {
    "AmbiguousComponentError": "kerakit.errors",
    "Input": "kerakit.spec",
    "Model": "kerakit.spec",
    "Run": "kerakit.train",
    "Sampler": "kerakit.spec",
    "Use": "kerakit.spec",
    "build": "kerakit.builder",
    "export": "kerakit.exporting",
    "fit": "kerakit.train",
    "load": "kerakit.saving",
    "load_data": "kerakit.train",
    "use": "kerakit.spec",
    "Component": "kerakit.registry",
    "ComponentNotFoundError": "kerakit.errors",
    "DataError": "kerakit.errors",
    "Dataset": "kerakit.data",
    "DeclarationError": "kerakit.errors",
    "DuplicateComponentError": "kerakit.errors",
    "InvalidParameterError": "kerakit.errors",
    "InvalidRegistrationError": "kerakit.errors",
    "KerakitError": "kerakit.errors",
    "PluginError": "kerakit.errors",
    "PluginInfo": "kerakit.plugins",
    "PluginWarning": "kerakit.errors",
    "components": "kerakit.lookup",
    "get": "kerakit.lookup",
    "get_component": "kerakit.lookup",
    "load_plugins": "kerakit.plugins",
    "list_plugins": "kerakit.lookup",
    "register_component": "kerakit.lookup",
    "split": "kerakit.data",
    "tune": "kerakit.tuning",
    "TuneResult": "kerakit.tuning",
}

__all__ = [
    "KINDS",
    "PLUGIN_API_VERSION",
    "AmbiguousComponentError",
    "Component",
    "ComponentNotFoundError",
    "DataError",
    "Dataset",
    "DeclarationError",
    "DuplicateComponentError",
    "Input",
    "InvalidParameterError",
    "InvalidRegistrationError",
    "KerakitError",
    "Model",
    "PluginError",
    "PluginInfo",
    "PluginWarning",
    "Run",
    "Sampler",
    "TuneResult",
    "Use",
    "__version__",
    "build",
    "components",
    "export",
    "fit",
    "get",
    "get_component",
    "hookimpl",
    "hp",
    "list_plugins",
    "load",
    "load_data",
    "load_plugins",
    "register_component",
    "split",
    "tune",
    "use",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kerakit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
