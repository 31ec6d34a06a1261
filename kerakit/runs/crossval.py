"""k-fold cross-validation of a plan: one model per fold, scored at its best epoch.

``kk.fit(..., cv=K)`` trains K models on stratified folds of the training
rows (:mod:`kerakit.sources.folds`; the test split stays held out), each kept
at its best validation epoch. Their validation scores, with mean and
standard deviation, say how much of a result is the model and how much the
luck of one split. The final model is then trained on all training rows for
the folds' median best epoch count and evaluated on the test split.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kerakit.data import Dataset, Streams
from kerakit.sources.folds import fold_datasets, training_rows

__all__ = ["CrossValidation", "cross_validate", "final_dataset", "make_folds"]


@dataclass
class CrossValidation:
    """The folds' results.

    Attributes:
        folds: Number of folds.
        seed: The seed that fixed the folds.
        scores: Per fold, the validation metrics at its best epoch.
        best_epochs: Per fold, the 0-based best epoch.
        epochs_run: Per fold, how many epochs ran.
    """

    folds: int
    seed: int
    scores: list[dict[str, float]] = field(default_factory=list)
    best_epochs: list[int] = field(default_factory=list)
    epochs_run: list[int] = field(default_factory=list)

    @property
    def mean(self) -> dict[str, float]:
        """Each metric's mean over the folds."""
        return {k: statistics.fmean(s[k] for s in self.scores) for k in self.scores[0]}

    @property
    def std(self) -> dict[str, float]:
        """Each metric's standard deviation over the folds (population, as scikit-learn)."""
        return {k: statistics.pstdev([s[k] for s in self.scores]) for k in self.scores[0]}

    @property
    def final_epochs(self) -> int:
        """Epochs for the final model: the folds' median best epoch count (at least 1)."""
        return max(1, round(statistics.median(e + 1 for e in self.best_epochs)))

    def as_dict(self) -> dict[str, Any]:
        """The ``cv`` entry of ``metrics.json``."""
        return {"folds": self.folds, "seed": self.seed, "per_fold": self.scores,
                "mean": self.mean, "std": self.std, "best_epochs": self.best_epochs,
                "epochs_run": self.epochs_run, "final_epochs": self.final_epochs}

    def summary(self) -> str:
        """One line: each validation metric as mean ± std over the folds."""
        shown = ", ".join(f"{k}={self.mean[k]:.4f} ± {self.std[k]:.4f}" for k in self.mean)
        return f"{self.folds}-fold cross-validation: {shown}"


def make_folds(the_plan: Any, data: Dataset | Streams, folds: int) -> list[Dataset]:
    """The plan's folds of ``data``, fixed by the declaration's seed.

    Raises:
        DataError: for pipelines, or a class with fewer rows than folds.
        UsageError: for ``folds`` below 2 or above the number of rows.
    """
    return fold_datasets(data, folds, seed=int(the_plan.declaration.seed or 0))


def cross_validate(the_plan: Any, folds: Sequence[Dataset], *, fit_fold: Any,
                   verbose: str | int = 0, callbacks: Sequence[Any] = ()) -> CrossValidation:
    """Train one model per fold and score each at its best validation epoch.

    Args:
        the_plan: The :class:`~kerakit.engine.plan.Plan` to train.
        folds: The folds, from :func:`make_folds`.
        fit_fold: ``fit_fold(plan, dataset, verbose, callbacks)`` trains one
            fold's model and returns ``(scores, best_epoch, epochs_run)``, the
            scores being its validation metrics at the epoch it kept.
        verbose: Passed to ``model.fit``.
        callbacks: Extra Keras callbacks for every fold.

    Returns:
        A :class:`CrossValidation`.
    """
    result = CrossValidation(len(folds), int(the_plan.declaration.seed or 0))
    for fold in folds:
        scores, best, ran = fit_fold(the_plan, fold, verbose, callbacks)
        result.scores.append({k: float(v) for k, v in scores.items()})
        result.best_epochs.append(int(best))
        result.epochs_run.append(int(ran))
    return result


def final_dataset(data: Dataset) -> Dataset:
    """All training rows as the training split, no validation split, the same test split."""
    import dataclasses

    x, y = training_rows(data)
    return dataclasses.replace(data, x_train=x, y_train=y, x_val=x[:0], y_val=y[:0])
