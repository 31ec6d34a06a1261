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
        cv: Score each trial on this many cross-validation folds (>= 2), or
            ``None`` for the validation split.
        time_budget: The search's total time: seconds, or a duration such
            as ``"20m"``, ``"90s"`` or ``"1.5h"`` (kept as seconds); ``None``
            for no budget.

    Raises:
        UsageError: for a count below 1, fewer than 2 folds, a budget that is
            not seconds > 0, or a value of the wrong type.
    """

    tuner: str | None = None
    objective: str | None = None
    max_trials: int = 10
    max_epochs: int | None = 20
    max_consecutive_failed_trials: int = 3
    verbose: int = 1
    cv: int | None = None
    time_budget: float | None = None

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
        if self.cv is not None:
            check_count("cv", self.cv, "None or an integer >= 2 (the number of folds)", least=2)
        if self.time_budget is not None:
            from kerakit.tuning.budget import parse_duration

            # frozen: the parsed seconds replace a duration such as "20m"
            object.__setattr__(self, "time_budget", parse_duration(self.time_budget))


def check_count(name: str, value: Any, expected: str = "an int >= 1", least: int = 1) -> None:
    """Refuse anything but an int >= ``least`` (booleans included).

    Example:
        >>> check_count("workers", 2)

    Raises:
        UsageError: naming the argument and the value received.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise UsageError(f"Invalid value for argument `{name}`. Expected {expected}. "
                         f"Received: {name}={value!r}")
