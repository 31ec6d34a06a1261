"""One trial's training, the same for every engine: one split, or K paired folds.

A trial trains one model on the search's validation split, or, with
``cv=K``, one model per fold of :attr:`Search.folds` (made once per search
from the seed, so every trial is scored on the same folds). Each model is
scored at its best epoch by the search's objective (:class:`KeepBest`); the
trial's score is the mean over its folds. The search's clock stops a model at
the first epoch end past the time budget, and no fold starts after it.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kerakit.engine.plan import Plan
    from kerakit.tuning.checked_search import Search


class TrialFailed(Exception):
    """A trial that cannot give a score (its loss became NaN, its objective was not logged)."""


@dataclass
class TrialScores:
    """A trial's scores: one per fold (one without cross-validation).

    Example:
        >>> round(TrialScores([0.9, 0.8], [3, 5]).score, 4)
        0.85

    Attributes:
        scores: Per fold, the objective at the model's best epoch.
        best_epochs: Per fold, that epoch's count (1-based).
        stopped: Why the time budget stopped the trial early, or ``""``.
        pruned: Why an engine's pruner stopped it after a fold, or ``""``.
        history: The last model's Keras ``History``.
        model: The last model trained (kept at its best epoch).
    """

    scores: list[float] = field(default_factory=list)
    best_epochs: list[int] = field(default_factory=list)
    stopped: str = ""
    pruned: str = ""
    history: Any = None
    model: Any = None

    @property
    def score(self) -> float | None:
        """The mean over the folds."""
        return statistics.fmean(self.scores) if self.scores else None

    @property
    def std(self) -> float | None:
        """The standard deviation over the folds (population, as scikit-learn's)."""
        return statistics.pstdev(self.scores) if self.scores else None

    @property
    def epochs(self) -> int | None:
        """Epochs to retrain for: the median best epoch count over the folds (>= 1)."""
        if not self.best_epochs:
            return None
        return max(1, round(statistics.median(self.best_epochs)))

    def record(self) -> dict[str, Any]:
        """What is kept of the trial beside its score: folds, epochs, a stop."""
        return {"fold_scores": self.scores, "best_epochs": self.best_epochs,
                "stopped": self.stopped}


def cv_columns(record: dict[str, Any], cv: int | None) -> dict[str, Any]:
    """The ``trials.csv`` columns of a cross-validated trial: ``score_std``, ``fold_scores``.

    Example:
        >>> cv_columns({"fold_scores": [0.5, 0.7]}, 2)
        {'score_std': 0.1, 'fold_scores': '[0.5, 0.7]'}

    Args:
        record: A :meth:`TrialScores.record`, or ``{}``.
        cv: The search's folds, or ``None`` (no columns).

    Returns:
        The columns, empty without cross-validation.
    """
    if not cv:
        return {}
    scores = [float(s) for s in record.get("fold_scores") or []]
    std = round(statistics.pstdev(scores), 6) if scores else None
    return {"score_std": std, "fold_scores": json.dumps([round(s, 6) for s in scores])}


def train_trial(search: Search, trial_plan: Plan, *, model: Any = None,
                callbacks: Sequence[Any] = (),
                fold_done: Callable[[int, float], str] | None = None) -> TrialScores:
    """Train one trial on the validation split or on every fold; score each at its best epoch.

    Example:
        >>> scores = train_trial(search, search.trial_plan(sampler))  # doctest: +SKIP
        >>> scores.score, scores.std, scores.epochs  # doctest: +SKIP

    Args:
        search: The checked search (its folds, objective, clock and epoch cap).
        trial_plan: The trial's plan.
        model: A model already built for the validation split (not used with folds).
        callbacks: More Keras callbacks for every model (an engine's, trackers').
        fold_done: Told ``(fold, score)`` after each fold; a non-empty answer
            (a pruner's reason) stops the trial there.

    Returns:
        The :class:`TrialScores`.

    Raises:
        TrialFailed: if a loss became NaN or the objective was not logged.
    """
    folds = search.folds
    result = TrialScores()
    for index, data in enumerate(folds or [search.dataset]):
        if index and search.clock.expired():
            result.stopped = f"time budget spent after fold {index} of {len(folds)}"
            break
        stop = search.clock.callback()
        score, epochs, result.history, result.model = _fit_one(
            search, trial_plan, data, None if folds else model, [*callbacks, stop])
        if score is not None:
            result.scores.append(score)
            result.best_epochs.append(epochs)
        if stop.stopped_at is not None:
            where = f" of fold {index + 1}" if folds else ""
            result.stopped = f"time budget spent at epoch {stop.stopped_at}{where}"
            break
        if fold_done is not None and folds and score is not None:
            result.pruned = fold_done(index, score)
            if result.pruned:
                break
    return result


def _fit_one(search: Search, trial_plan: Plan, data: Any, model: Any,
             callbacks: list[Any]) -> tuple[float | None, int, Any, Any]:
    """Fit one model; ``(score at its best epoch, that epoch's count, history, model)``."""
    import keras

    from kerakit.runs.keep_best import KeepBest

    if model is None:
        model = trial_plan.build(adapt_data=data.x_train)
    epochs = int(trial_plan.declaration.epochs)
    if search.options.max_epochs:
        epochs = min(epochs, search.options.max_epochs)
    keep = KeepBest(search.objective)  # the search's objective decides each fold's best epoch
    history = model.fit(**trial_plan.fit_inputs(data, model=model), epochs=epochs,
                        callbacks=[*trial_plan.callbacks(run_dir=None), keep,
                                   keras.callbacks.TerminateOnNaN(), *callbacks], verbose=0)
    losses = history.history.get("loss", [])
    if not losses or not all(math.isfinite(v) for v in losses):
        raise TrialFailed("the loss became NaN or infinite")
    if search.objective not in history.history:
        raise TrialFailed(f"the objective {search.objective} was not logged")
    if keep.best_epoch is None:
        return None, 0, history, model
    return float(keep.best), keep.best_epoch + 1, history, model
