"""A checked search: what every tuner engine receives, and its tools for trials and outputs."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerakit.data import Dataset
from kerakit.declaration.model import FixedSampler, Model, Sampler, resolve
from kerakit.engine.plan import Plan, plan
from kerakit.fileops import atomic_path, write_atomic
from kerakit.tuning.budget import SearchClock
from kerakit.tuning.objective import direction
from kerakit.tuning.options import SearchOptions
from kerakit.tuning.result import TuneResult


@dataclass
class Search:
    """A checked search: the declaration, its default plan, the data and the options.

    Made once by :func:`kerakit.tune` (or read back by a worker process) and
    handed to the engine's ``search``.

    Example:
        >>> values = {"blocks.0.units": 8}  # doctest: +SKIP
        >>> trial_plan = search.trial_plan(FixedSampler(values))  # doctest: +SKIP

    Attributes:
        decl: The declaration, with the data's columns filled in.
        default: Its default plan (placeholders at their defaults).
        dataset: The data, in memory.
        options: How to search; ``options.tuner`` is already the engine's.
        objective: The logged metric the search optimises.
        listeners: Told of each trial's start and end.
        clock: The time spent against ``options.time_budget``; set by
            :func:`kerakit.tune` for the search's directory.
    """

    decl: Model
    default: Plan
    dataset: Dataset
    options: SearchOptions
    objective: str
    listeners: list[Any] = field(default_factory=list)
    clock: SearchClock = field(default_factory=lambda: SearchClock(None, None, None))

    @functools.cached_property
    def folds(self) -> list[Dataset] | None:
        """With ``options.cv``, the folds every trial is scored on; else ``None``.

        Made once per search from the stored data and the declaration's seed,
        so every trial, and every worker process, gets the same paired folds.
        """
        if not self.options.cv:
            return None
        from kerakit.sources.folds import fold_datasets

        return fold_datasets(self.dataset, self.options.cv, seed=int(self.decl.seed or 0))

    @property
    def direction(self) -> str:
        """``"min"`` or ``"max"``: which way the objective improves."""
        return direction(self.objective)

    def trial_plan(self, sampler: Sampler) -> Plan:
        """One trial's plan: the declaration resolved with ``sampler``, on the search's registry."""
        return plan(self.decl, sampler, registry=self.default.registry)

    def trial_started(self, trial: str, values: dict[str, Any]) -> None:
        """An engine calls this when a trial starts, with its hyperparameter values."""
        for listener in self.listeners:
            listener.trial_started(trial, values)

    def trial_finished(self, row: dict[str, Any]) -> None:
        """An engine calls this when a trial ends, with its ``trials.csv`` row."""
        self.clock.save()  # a search killed later still counts the time it spent
        for listener in self.listeners:
            listener.trial_finished(row)

    def finish(self, directory: Path, trials: list[dict[str, Any]], values: dict[str, Any],
               score: float | None, epochs: int | None, model: Any = None) -> TuneResult:
        """Write the outputs every engine writes and return the result.

        Each file is replaced in one step, so processes that finish the same
        search together leave whole files.

        Args:
            directory: The tuning directory.
            trials: ``trials.csv`` rows: trial, status, score, seconds, worker,
                reason, then the hyperparameters.
            values: The best trial's hyperparameter values.
            score: The best trial's objective value.
            epochs: Epochs at which the best trial peaked.
            model: The best trained model, when the engine keeps it.

        Returns:
            The :class:`~kerakit.tuning.TuneResult`.
        """
        from kerakit.runs.report import plot_tuning, write_trials_csv

        best = resolve(self.decl, FixedSampler(values))
        directory.mkdir(parents=True, exist_ok=True)
        write_atomic(directory / "best_hyperparameters.json",
                     json.dumps(values, indent=2, default=str))
        write_atomic(directory / "best_declaration.json", best.to_json())
        with atomic_path(directory / "trials.csv") as tmp:
            write_trials_csv(trials, tmp)
        shown = [{k: v for k, v in row.items() if k not in ("score_std", "fold_scores")}
                 for row in trials]  # per-fold columns are not hyperparameters to plot
        with atomic_path(directory / "tuning.png") as tmp:
            plot_tuning(shown, tmp, self.objective, self.direction)
        return TuneResult(values, best, trials, model, directory, score, self.objective, epochs)
