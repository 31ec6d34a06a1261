"""The tuner-engine contract: what an engine declares, checks and runs.

An engine is registered through the ``kerakit_tuner_engines`` hook, like the
built-in KerasTuner engine (:mod:`kerakit.tuning.keras_tuner_engine`). It
names its own tuners, keyword options and command-line options, and runs a
checked :class:`~kerakit.tuning.Search`, writing the outputs through
:meth:`~kerakit.tuning.Search.finish`.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerakit.errors import UsageError

if TYPE_CHECKING:
    from kerakit.tuning.checked_search import Search
    from kerakit.tuning.options import SearchOptions
    from kerakit.tuning.result import TuneResult


class TunerEngine:
    """Base class of tuner engines: runs a checked search and writes its outputs.

    A subclass sets ``tuners`` (the ``tuner=`` values it accepts, its default
    first) and ``options`` (the extra keyword options of :func:`kerakit.tune`
    it takes, such as ``storage``), may add command-line options with
    :meth:`add_arguments`, and implements :meth:`search`.

    Example:
        >>> class Exhaustive(TunerEngine):
        ...     tuners = ("grid",)
        >>> Exhaustive().check_request("grid", None, {})
    """

    #: Filled in from the name it was registered under.
    name: str = ""
    #: The tuner names it accepts; the first is the default.
    tuners: tuple[str, ...] = ("random",)
    options: tuple[str, ...] = ()
    #: Whether ``workers=N`` (N local processes) is supported.
    supports_workers: bool = False
    #: Whether processes of one search share the tuning directory at once (so it
    #: is not locked to one process).
    shares_directory: bool = False

    @classmethod
    def add_arguments(cls, parser: argparse._ActionsContainer) -> None:
        """Add this engine's options to ``kerakit tune``, as pytest's ``pytest_addoption``.

        Called with an argument group of its own, only when the engine is
        chosen (``--engine NAME``) or help is asked for; so it must not
        import heavy modules. Each option's ``dest`` should be one of
        :attr:`options`: the values given on the command line (those not
        ``None``) reach :meth:`search` as keyword options.

        Example:
            >>> class WithStorage(TunerEngine):
            ...     options = ("storage",)
            ...     @classmethod
            ...     def add_arguments(cls, parser):
            ...         parser.add_argument("--storage", help="where the study lives")

        Args:
            parser: The argument group to add to.
        """

    @property
    def default_tuner(self) -> str:
        """The tuner used when none is named: the first of :attr:`tuners`."""
        return self.tuners[0]

    def check_request(self, tuner: str, workers: int | None,
                      options: Mapping[str, Any]) -> None:
        """Refuse a tuner, worker count or option this engine does not take.

        Called before the declaration and data are checked, so that a typo
        fails fast. An override calls ``super().check_request(...)`` first.

        Example:
            >>> TunerEngine().check_request("random", None, {})

        Args:
            tuner: The tuner's name.
            workers: Local worker processes asked for, or ``None``.
            options: The engine's keyword options.

        Raises:
            UsageError: naming what was expected and what was received.
        """
        if tuner not in self.tuners:
            raise UsageError(f"Invalid value for argument `tuner` of the engine `{self.name}`. "
                             f"Expected one of: {', '.join(self.tuners)}. "
                             f"Received: tuner={tuner!r}")
        if workers and not self.supports_workers:
            raise UsageError(f"Invalid value for argument `workers` of the engine `{self.name}`. "
                             "Expected None: scale it out by running the same search in more "
                             f"processes. Received: workers={workers!r}")
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            accepted = ", ".join(self.options) or "none"
            raise UsageError(f"Invalid option for the engine `{self.name}`. Expected one of: "
                             f"{accepted}. Received: {unknown[0]}={options[unknown[0]]!r}")

    def check_options(self, options: SearchOptions, engine_options: Mapping[str, Any]) -> None:
        """Refuse a combination of search options this engine cannot run (say ``cv`` with a tuner).

        Called after :meth:`check_request`, before the data is loaded. The
        default accepts everything.

        Example:
            >>> from kerakit.tuning.options import SearchOptions
            >>> TunerEngine().check_options(SearchOptions(cv=3), {})

        Args:
            options: The search options, with ``cv`` and ``time_budget``.
            engine_options: The engine's keyword options.

        Raises:
            UsageError: naming what was expected and what was received.
        """

    def search(self, search: Search, directory: Path, *, overwrite: bool,
               workers: int | None, **options: Any) -> TuneResult:
        """Run (or join, or resume) the search; return its result with the outputs written.

        Example:
            >>> engine.search(search, Path("t"), overwrite=False, workers=None)  # doctest: +SKIP

        Args:
            search: The checked search: declaration, default plan, data,
                options and objective. Its ``trial_plan``, ``trial_started``,
                ``trial_finished`` and ``finish`` are the engine's tools, and
                :func:`kerakit.tuning.trial.train_trial` trains a trial on the
                search's folds (``options.cv``) within its time budget
                (``search.clock``).
            directory: The tuning directory.
            overwrite: Start afresh instead of resuming.
            workers: Local worker processes, when ``supports_workers``.
            **options: The engine's own options (see ``options``).

        Returns:
            The :class:`~kerakit.tuning.TuneResult`, usually from ``search.finish``.
        """
        raise NotImplementedError(f"The engine `{self.name}` does not implement search().")
