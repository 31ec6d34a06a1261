"""What a run reports: history table, curves plot, overfitting point, test report."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kerakit.errors import UsageError


def write_history_csv(history: Mapping[str, Sequence[float]], path: Path) -> None:
    keys = list(history)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", *keys])
        for epoch in range(len(history[keys[0]]) if keys else 0):
            writer.writerow([epoch + 1, *(history[k][epoch] for k in keys)])


def plot_curves(
    history: Mapping[str, Sequence[float]],
    path: Path,
    *,
    title: str = "",
    best: int | None = None,
    stopped: int | None = None,
    diverged: int | None = None,
    resumed: int | None = None,
    kept: bool = False,
) -> None:
    """Loss and each metric per epoch, train vs validation, with key epochs marked.

    Epochs are numbered from 1 on the plot; ``best``, ``stopped``, ``diverged``
    and ``resumed`` (the first epoch run after restoring a crashed run's
    backup) are 0-based, as in ``metrics.json``. With ``kept``, the best epoch
    is marked as the one whose weights the run kept.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k for k in history if not k.startswith("val_") and k != "learning_rate"]
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        epochs = np.arange(1, len(history[name]) + 1)
        ax.plot(epochs, history[name], label="train")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], label="validation")
        marks = (("kept: best" if kept else "best", best, "green"), ("stopped", stopped, "grey"),
                 ("overfitting from", diverged, "red"), ("resumed", resumed, "blue"))
        for label, epoch, color in marks:
            if epoch is not None:
                ax.axvline(epoch + 1, color=color, linestyle="--", linewidth=1,
                           label=f"{label} (epoch {epoch + 1})")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def classification_summary(
    y_true: np.ndarray, y_prob: np.ndarray, class_names: Sequence[str] | None
) -> dict[str, Any]:
    """scikit-learn's classification report and confusion matrix, JSON-ready.

    Accuracy alone hides a model that never predicts a rare class, so the
    summary also holds the balanced accuracy, each class's recall and, for
    two classes, the ROC AUC of the positive (second) class.
    """
    from sklearn.metrics import (
        balanced_accuracy_score,
        classification_report,
        confusion_matrix,
        roc_auc_score,
    )

    y_prob = np.asarray(y_prob)
    if y_prob.ndim == 2 and y_prob.shape[1] > 1:
        y_pred = y_prob.argmax(axis=1)
    else:
        y_pred = (y_prob.reshape(-1) > 0.5).astype(int)
    y_true = np.asarray(y_true).reshape(-1).astype(int)
    n = len(class_names) if class_names else int(max(y_true.max(), y_pred.max()) + 1)
    labels = list(range(n))
    names = [str(c) for c in class_names] if class_names else [str(i) for i in labels]
    report = classification_report(y_true, y_pred, labels=labels, target_names=names,
                                   output_dict=True, zero_division=0)
    summary = {
        "classification_report": report,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "class_names": names,
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "recall": {name: float(report[name]["recall"]) for name in names},
    }
    if n == 2 and len(np.unique(y_true)) == 2:
        positive = y_prob[:, 1] if y_prob.ndim == 2 and y_prob.shape[1] > 1 else y_prob.ravel()
        summary["roc_auc"] = float(roc_auc_score(y_true, positive))
    return summary


def regression_summary(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """The test residuals (prediction minus truth) of each output, JSON-ready.

    A mean far from 0 is a bias that the MAE alone does not show; the tail
    (90th percentile, largest) shows how wrong the worst predictions are.

    Example:
        >>> summary = regression_summary(np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.0, 2.0]))
        >>> summary["residuals"][0]["mean"], summary["residuals"][0]["max_abs"]
        (-0.1667, 1.0)

    Args:
        y_true: Targets, ``(n,)`` or ``(n, outputs)``.
        y_pred: Predictions of the same rows.

    Returns:
        ``{"residuals": [...]}``, one dict per output, rounded to 4 decimals.
    """
    residual = np.asarray(y_pred, "float64").reshape(len(y_pred), -1) - np.asarray(
        y_true, "float64").reshape(len(y_true), -1)
    size = np.abs(residual)

    def rounded(values: np.ndarray) -> list[float]:
        return [round(float(v), 4) for v in values]

    columns = {"mean": rounded(residual.mean(axis=0)), "std": rounded(residual.std(axis=0)),
               "mean_abs": rounded(size.mean(axis=0)),
               "median_abs": rounded(np.median(size, axis=0)),
               "p90_abs": rounded(np.percentile(size, 90, axis=0)),
               "max_abs": rounded(size.max(axis=0))}
    return {"residuals": [{k: v[i] for k, v in columns.items()}
                          for i in range(residual.shape[1])]}


def write_trials_csv(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """One row per trial; hyperparameters as extra columns."""
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def best_so_far(scores: Sequence[float], direction: str) -> np.ndarray:
    """The best score after each trial, for an objective to ``"min"``imise or ``"max"``imise."""
    if direction not in ("min", "max"):
        raise UsageError(f"Invalid direction. Expected 'min' or 'max'. Received: {direction!r}")
    values = np.asarray(scores, dtype=float)
    return np.maximum.accumulate(values) if direction == "max" else np.minimum.accumulate(values)


def plot_tuning(rows: Sequence[Mapping[str, Any]], path: Path, objective: str,
                direction: str) -> None:
    """Score per trial with the best-so-far curve, and a scatter per numeric hyperparameter.

    Args:
        direction: ``"min"`` or ``"max"``: the tuner's direction for ``objective``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fixed = {"trial", "status", "score", "seconds", "worker", "reason"}
    numeric = sorted({k for r in rows for k, v in r.items() if k not in fixed
                      and isinstance(v, (int, float)) and not isinstance(v, bool)})
    panels = 1 + len(numeric)
    cols = min(panels, 3)
    nrows = -(-panels // cols)
    fig, grid = plt.subplots(nrows, cols, figsize=(5 * cols, 3.8 * nrows), squeeze=False)
    axes = grid.ravel()
    for unused in axes[panels:]:
        unused.set_visible(False)
    scored = [(i + 1, r["score"]) for i, r in enumerate(rows) if r.get("score") is not None]
    ax = axes[0]
    if scored:
        xs, ys = zip(*scored, strict=True)
        best = best_so_far(ys, direction)
        ax.plot(xs, ys, "o", label="trial score")
        ax.plot(xs, best, "-", label="best so far")
    failed = [i + 1 for i, r in enumerate(rows) if r.get("status") != "COMPLETED"]
    for x in failed:
        ax.axvline(x, color="red", alpha=0.3, linewidth=1)
    ax.set_xlabel("trial")
    ax.set_ylabel(objective)
    ax.set_title("score per trial" + (" (red: failed)" if failed else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    for ax, name in zip(axes[1:panels], numeric, strict=True):
        points = [(r[name], r["score"]) for r in rows
                  if r.get("score") is not None and isinstance(r.get(name), (int, float))]
        if points:
            ax.scatter(*zip(*points, strict=True))
        ax.set_xlabel(name)
        ax.set_ylabel(objective)
        if name.endswith("learning_rate"):
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
