"""Exceptions raised by kerakit, all under :class:`KerakitError`."""

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


class PluginWarning(UserWarning):
    """A third-party plugin was quarantined; the others still loaded."""
