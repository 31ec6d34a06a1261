"""How to search: the options every engine reads, validated once, with the only defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kerakit.errors import UsageError


@dataclass(frozen=True)
class SearchOptions:
    """How to search: validated once, shared by an engine and its worker processes.

    These field defaults are the tuning defaults: :func:`kerakit.tune` and
    ``kerakit tune`` read them from here. The tuner name is checked by the
    engine that runs the search, which knows its own tuners.

    Example:
        >>> SearchOptions(max_trials=5).max_epochs
        20

    Args:
        tuner: The engine's tuner, such as ``"random"``; ``None`` is the
            engine's first (default) tuner.
        objective: A logged metric; ``None`` is the plan's default objective.
        max_trials: Trials to run (>= 1).
        max_epochs: Cap on one trial's epochs (>= 1), or ``None`` for the declaration's.
        max_consecutive_failed_trials: Failed trials in a row that stop the search.
        verbose: ``0`` silences the per-trial progress lines.

    Raises:
        UsageError: for a count below 1 or a value of the wrong type.
    """

    tuner: str | None = None
    objective: str | None = None
    max_trials: int = 10
    max_epochs: int | None = 20
    max_consecutive_failed_trials: int = 3
    verbose: int = 1

    def __post_init__(self) -> None:
        for name in ("tuner", "objective"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise UsageError(f"Invalid value for argument `{name}`. Expected a name such as "
                                 f"{'random' if name == 'tuner' else 'val_loss'!r}. "
                                 f"Received: {name}={value!r}")
        for name in ("max_trials", "max_consecutive_failed_trials"):
            check_count(name, getattr(self, name))
        if self.max_epochs is not None:
            check_count("max_epochs", self.max_epochs, "None or an int >= 1")
        if isinstance(self.verbose, bool) or not isinstance(self.verbose, int):
            raise UsageError("Invalid value for argument `verbose`. Expected 0 or 1. "
                             f"Received: verbose={self.verbose!r}")


def check_count(name: str, value: Any, expected: str = "an int >= 1") -> None:
    """Refuse anything but an int >= 1 (booleans included).

    Example:
        >>> check_count("workers", 2)

    Raises:
        UsageError: naming the argument and the value received.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"Invalid value for argument `{name}`. Expected {expected}. "
                         f"Received: {name}={value!r}")
