"""Every exception and warning kerakit raises, all errors under :class:`KerakitError`.

The hierarchy::

    KerakitError
    ├── UsageError (ValueError) ............ a bad argument to a kerakit function or command
    ├── ComponentNotFoundError (LookupError)
    ├── AmbiguousComponentError (LookupError)
    ├── DuplicateComponentError (ValueError)
    ├── InvalidRegistrationError (ValueError)
    ├── InvalidParameterError (ValueError)
    ├── DeclarationError (ValueError)
    ├── DataError (ValueError)
    ├── ModelFileError (ValueError)
    ├── NotIndexable (ValueError) .......... internal: a plugin is loaded eagerly instead
    ├── PluginError
    ├── MissingPluginError
    ├── UnsafeModelError
    ├── ExportError
    ├── LockedError (RuntimeError)
    └── ConformanceError (AssertionError)

    UserWarning
    └── PluginWarning
        └── TrackerWarning

Each error that is also a builtin exception (in brackets) can be caught as
either, so ``except ValueError`` keeps working for callers that predate kerakit's
own classes. The command line reports a :class:`KerakitError` on one
``error:`` line; anything else is reported as a bug.

All of them but ``NotIndexable`` are exported from :mod:`kerakit`.
"""

from __future__ import annotations


class KerakitError(Exception):
    """Base class of every error kerakit raises on purpose."""


class UsageError(KerakitError, ValueError):
    """A function or command was called with an invalid argument.

    Example:
        >>> import kerakit as kk
        >>> try:
        ...     raise kk.UsageError("Invalid value for argument `x`. Expected an int. "
        ...                         "Received: x='a'")
        ... except ValueError as error:
        ...     print(type(error).__name__)
        UsageError
    """


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


class NotIndexable(KerakitError, ValueError):
    """A plugin registered something the index cannot hold; it is loaded eagerly instead."""


class LockedError(KerakitError, RuntimeError):
    """Another process is writing to the same run, tuning or export directory."""


class ConformanceError(AssertionError, KerakitError):
    """A component failed a conformance check; the message says which and why."""


class PluginWarning(UserWarning):
    """A third-party plugin was quarantined; the others still loaded."""


class TrackerWarning(PluginWarning):
    """An experiment tracker failed and was switched off; the run went on."""
