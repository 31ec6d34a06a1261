"""The outcome of a search, the same for every tuner engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerakit.declaration.model import Model


@dataclass
class TuneResult:
    """The outcome of :func:`kerakit.tune`.

    Example:
        >>> result = kk.tune(space, "iris", max_trials=2)  # doctest: +SKIP
        >>> kk.fit(result.best, "iris")  # doctest: +SKIP

    Attributes:
        best_hyperparameters: Values of the best trial, by hyperparameter name.
        best: The best concrete declaration, re-runnable with :func:`kerakit.fit`.
        trials: One row per trial: id, status, score, values, seconds, worker, reason.
        best_model: The best trial's trained model (``None`` if not available).
        directory: The tuning directory.
        best_score: The best trial's objective value.
        objective: The objective's name.
        best_epochs: Epochs at which the best trial peaked.
        best_run: The retrained best run, when ``retrain_best=True``.
        extra: Anything else an engine reports.
    """

    best_hyperparameters: dict[str, Any]
    best: Model
    trials: list[dict[str, Any]]
    best_model: Any
    directory: Path
    best_score: float | None = None
    objective: str = ""
    best_epochs: int | None = None
    best_run: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
