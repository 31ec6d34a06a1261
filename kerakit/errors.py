"""Every exception and warning kerakit raises, all errors under :class:`KerakitError`.

All of them are exported from :mod:`kerakit`.
"""

from __future__ import annotations


class KerakitError(Exception):
    """Base class of every error kerakit raises on purpose."""


class ComponentNotFoundError(KerakitError, LookupError):
    """A component name matched nothing in the registry."""


class AmbiguousComponentError(KerakitError, LookupError):
    """A short name is provided by several plugins."""


class DuplicateComponentError(KerakitError, ValueError):
    """A plugin registered the same name twice."""


class InvalidRegistrationError(KerakitError, ValueError):
    """A plugin called ``register`` with something invalid."""


class InvalidParameterError(KerakitError, ValueError):
    """A component was given a parameter it does not accept."""


class PluginError(KerakitError):
    """A plugin could not be loaded (raised in strict mode only)."""


class DeclarationError(KerakitError, ValueError):
    """A model declaration is invalid or cannot be built."""


class DataError(KerakitError, ValueError):
    """Training data does not match the declaration."""


class MissingPluginError(KerakitError):
    """A saved model needs a component whose plugin is not available."""


class UnsafeModelError(KerakitError):
    """A model file holds code (e.g. a ``Lambda`` layer) and was refused."""


class ExportError(KerakitError):
    """An export could not be written or did not verify."""


class ModelFileError(KerakitError, ValueError):
    """A model file or its manifest is truncated, corrupted or malformed."""


class LockedError(KerakitError, RuntimeError):
    """Another process is writing to the same run, tuning or export directory."""


class ConformanceError(AssertionError, KerakitError):
    """A component failed a conformance check; the message says which and why."""


class PluginWarning(UserWarning):
    """A third-party plugin was quarantined; the others still loaded."""


class TrackerWarning(PluginWarning):
    """An experiment tracker failed and was switched off; the run went on."""
