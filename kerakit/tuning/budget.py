"""A search's time budget: parsed once, counted across resumes and worker processes.

The budget is the search's total time. The time spent so far is kept in the
tuning directory (``time_spent.json``), updated at every trial's end, so a
resumed search (or one whose processes were killed) adds to it. Each process
holds the same absolute deadline: the process that starts the search sets it
from the time already spent, and local worker processes read it from the
search's spec.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from typing import Any

from kerakit.errors import UsageError
from kerakit.fileops import write_atomic

#: The tuning directory's record of the time a search has spent, over all its sessions.
SPENT_FILE = "time_spent.json"

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([smh]?)\s*$", re.IGNORECASE)


def parse_duration(value: Any) -> float | None:
    """Seconds from a duration: ``"90"``, ``"90s"``, ``"20m"``, ``"1.5h"`` or a number.

    Example:
        >>> parse_duration("20m"), parse_duration("1.5h"), parse_duration(90)
        (1200.0, 5400.0, 90.0)

    Args:
        value: A duration, seconds as a number, or ``None`` (no budget).

    Returns:
        The seconds (> 0), or ``None``.

    Raises:
        UsageError: for anything else, zero or a negative duration.
    """
    if value is None:
        return None
    seconds = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        raise UsageError("Invalid value for argument `time_budget`. Expected a duration > 0 "
                         "such as '90s', '20m' or '1.5h' (seconds without a unit). "
                         f"Received: time_budget={value!r}")
    return seconds


class SearchClock:
    """The time a search has spent, against its budget, shared by its processes.

    Example:
        >>> clock = SearchClock(None, deadline=None, path=None)
        >>> clock.expired()
        False

    Args:
        budget: The budget in seconds, or ``None`` for none.
        deadline: The absolute time (``time.time()``) at which it runs out;
            without a budget, when the search would have been at zero spent.
        path: The ``time_spent.json`` file to update, or ``None``.
    """

    def __init__(self, budget: float | None, deadline: float | None,
                 path: Path | None) -> None:
        self.budget, self.path = budget, path
        self.deadline = deadline if deadline is not None else time.time() + (budget or 0.0)

    @classmethod
    def start(cls, directory: Path, budget: float | None, *, overwrite: bool) -> SearchClock:
        """The clock of a search starting (or resuming) now in ``directory``.

        Example:
            >>> clock = SearchClock.start(Path("tuning/x"), 60.0, overwrite=False)  # doctest: +SKIP

        Args:
            directory: The tuning directory.
            budget: Seconds, or ``None``.
            overwrite: The search starts afresh: earlier time does not count.

        Returns:
            The clock, with the time already spent counted.
        """
        path = directory / SPENT_FILE
        spent = 0.0 if overwrite else read_spent(directory)
        return cls(budget, time.time() + (budget or 0.0) - spent, path)

    def spent(self) -> float:
        """Seconds the search has spent, over all its sessions."""
        return max(0.0, (self.budget or 0.0) - (self.deadline - time.time()))

    def expired(self) -> bool:
        """Whether the budget is spent (never, without one)."""
        return self.budget is not None and time.time() >= self.deadline

    def save(self) -> None:
        """Record the time spent; processes running at once keep the largest record."""
        if self.path is None or not self.path.parent.exists():
            return
        spent = max(self.spent(), read_spent(self.path.parent))
        write_atomic(self.path, json.dumps({"seconds": round(spent, 3)}))

    def callback(self) -> Any:
        """A Keras callback that ends training at the first epoch end past the deadline."""
        return budget_stop_class()(self)


def read_spent(directory: Path) -> float:
    """Seconds recorded in ``directory/time_spent.json``; 0 when there is none."""
    try:
        return float(json.loads((directory / SPENT_FILE).read_text())["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


def budget_stop_class() -> type:
    """The Keras callback class, made on first use so that this module imports no Keras."""
    import keras

    class BudgetStop(keras.callbacks.Callback):
        """Sets ``model.stop_training`` at the first epoch end past the deadline."""

        def __init__(self, clock: SearchClock) -> None:
            super().__init__()
            self.clock = clock
            self.stopped_at: int | None = None  # epochs run when it stopped training

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if self.clock.expired():
                self.stopped_at = epoch + 1
                self.model.stop_training = True

    return BudgetStop
