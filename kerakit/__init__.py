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
from kerakit._version import __version__
from kerakit.hookspecs import KINDS, PLUGIN_API_VERSION, hookimpl

# public name -> module that defines it, imported on first access
_LAZY = {
    "AmbiguousComponentError": "kerakit.errors",
    "build": "kerakit.engine.plan",
    "Classifier": "kerakit.estimators",
    "Component": "kerakit.registry.table",
    "ComponentNotFoundError": "kerakit.errors",
    "components": "kerakit.registry.lookup",
    "ConformanceError": "kerakit.errors",
    "DataError": "kerakit.errors",
    "Dataset": "kerakit.data",
    "DeclarationError": "kerakit.errors",
    "default_for": "kerakit.engine.nocode",
    "DuplicateComponentError": "kerakit.errors",
    "export": "kerakit.deploy.exporting",
    "ExportError": "kerakit.errors",
    "fit": "kerakit.runs.train",
    "get": "kerakit.registry.lookup",
    "get_component": "kerakit.registry.lookup",
    "Head": "kerakit.engine.plan",
    "image_folder": "kerakit.sources.images",
    "Input": "kerakit.declaration.model",
    "InvalidParameterError": "kerakit.errors",
    "InvalidRegistrationError": "kerakit.errors",
    "KerakitError": "kerakit.errors",
    "list_plugins": "kerakit.registry.lookup",
    "load": "kerakit.engine.saving",
    "load_data": "kerakit.runs.train",
    "load_plugins": "kerakit.registry.discovery",
    "LockedError": "kerakit.errors",
    "MissingPluginError": "kerakit.errors",
    "Model": "kerakit.declaration.model",
    "ModelFileError": "kerakit.errors",
    "Plan": "kerakit.engine.plan",
    "plan": "kerakit.engine.plan",
    "PluginError": "kerakit.errors",
    "PluginInfo": "kerakit.registry.discovery",
    "PluginWarning": "kerakit.errors",
    "read_table": "kerakit.sources.formats",
    "Regressor": "kerakit.estimators",
    "register_component": "kerakit.registry.lookup",
    "Run": "kerakit.runs.train",
    "Sampler": "kerakit.declaration.model",
    "split": "kerakit.data",
    "TrackerWarning": "kerakit.errors",
    "tune": "kerakit.tuning.search",
    "TuneResult": "kerakit.tuning",
    "TunerEngine": "kerakit.tuning",
    "tuner_engines": "kerakit.tuning",
    "UnsafeModelError": "kerakit.errors",
    "UsageError": "kerakit.errors",
    "use": "kerakit.declaration.model",
    "Use": "kerakit.declaration.model",
}

__all__ = [
    "KINDS",
    "PLUGIN_API_VERSION",
    "AmbiguousComponentError",
    "Classifier",
    "Component",
    "ComponentNotFoundError",
    "ConformanceError",
    "DataError",
    "Dataset",
    "DeclarationError",
    "DuplicateComponentError",
    "ExportError",
    "Head",
    "Input",
    "InvalidParameterError",
    "InvalidRegistrationError",
    "KerakitError",
    "LockedError",
    "MissingPluginError",
    "Model",
    "ModelFileError",
    "Plan",
    "PluginError",
    "PluginInfo",
    "PluginWarning",
    "Regressor",
    "Run",
    "Sampler",
    "TrackerWarning",
    "TuneResult",
    "TunerEngine",
    "UnsafeModelError",
    "UsageError",
    "Use",
    "__version__",
    "build",
    "components",
    "default_for",
    "export",
    "fit",
    "get",
    "get_component",
    "hookimpl",
    "hp",
    "image_folder",
    "list_plugins",
    "load",
    "load_data",
    "load_plugins",
    "plan",
    "read_table",
    "register_component",
    "split",
    "tune",
    "tuner_engines",
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
