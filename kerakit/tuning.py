"""Hyperparameter search with KerasTuner: one declaration is the search space.

:func:`tune` wraps the declaration in one ``keras_tuner.HyperModel`` whose
``build`` resolves every placeholder from the trial's hyperparameters and
whose ``fit`` tunes the batch size and epochs too. The tuner is KerasTuner's
own (random, Bayesian, Hyperband or grid), with kerakit's additions: one
progress line per trial, failed trials recorded with their reason, atomic
state files for resuming after ``kill -9``, and the outputs written to the
tuning directory.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerakit.data import Dataset
from kerakit.errors import DataError, DeclarationError, KerakitError
from kerakit.search_space import FixedSampler, TunerSampler, check_search_space
from kerakit.spec import Model, resolve

TUNERS = ("random", "bayesian", "hyperband", "grid")
PROJECT = "search"
TRIAL_FILE = "kerakit_trial.json"


@dataclass
class TuneResult:
    """The outcome of :func:`tune`.

    Attributes:
        best_hyperparameters: Values of the best trial, by hyperparameter name.
        best: The best concrete declaration, re-runnable with :func:`kerakit.fit`.
        trials: One row per trial: id, status, score, values, seconds, worker, reason.
        best_model: The best trial's trained model (``None`` if not available).
        best_score: The best trial's objective value.
        objective: The objective's name.
        best_epochs: Epochs at which the best trial peaked.
        directory: The tuning directory.
        best_run: The retrained best run, when ``retrain_best=True``.
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


def _hypermodel_class() -> type:
    import keras
    import keras_tuner as kt

    from kerakit.builder import build
    from kerakit.train import make_callbacks, training_inputs

    class DeclarationHyperModel(kt.HyperModel):
        """A declaration as a KerasTuner HyperModel."""

        def __init__(self, decl: Model, data: Dataset, max_epochs: int | None) -> None:
            super().__init__(name=decl.name)
            self.decl, self.data, self.max_epochs = decl, data, max_epochs

        def build(self, hp: Any) -> Any:
            try:
                # build() re-applies the seed: KerasTuner cleared the session before the trial.
                return build(self.decl, sampler=TunerSampler(hp), adapt_data=self.data.x_train)
            except KerakitError as exc:
                raise kt.errors.FailedTrialError(f"cannot build: {exc}") from exc

        def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            concrete = resolve(self.decl, TunerSampler(hp))
            kwargs.pop("verbose", None)
            epochs = kwargs.pop("epochs", None) or int(concrete.epochs)
            if self.max_epochs:
                epochs = min(epochs, self.max_epochs)
            callbacks = [*kwargs.pop("callbacks", []), *make_callbacks(concrete, run_dir=None),
                         keras.callbacks.TerminateOnNaN()]
            history = model.fit(**training_inputs(concrete, self.data), epochs=epochs,
                                callbacks=callbacks, verbose=0, **kwargs)
            losses = history.history.get("loss", [])
            if not losses or not all(math.isfinite(v) for v in losses):
                raise kt.errors.FailedTrialError("the loss became NaN or infinite")
            return history

    return DeclarationHyperModel


def _tuner_class(name: str) -> type:
    import keras_tuner as kt

    base = {"random": kt.RandomSearch, "bayesian": kt.BayesianOptimization,
            "hyperband": kt.Hyperband, "grid": kt.GridSearch}[name]

    class ReportingTuner(base):  # type: ignore[misc, valid-type]
        """KerasTuner's tuner plus timing records and one progress line per trial."""

        total: int | None = None
        started: float = 0.0

        def on_search_begin(self) -> None:
            super().on_search_begin()
            self.started = time.time()
            self.done_here = 0

        def on_trial_begin(self, trial: Any) -> None:
            super().on_trial_begin(trial)
            self.trial_started = time.time()

        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)
            record = {"seconds": round(time.time() - self.trial_started, 2),
                      "worker": os.environ.get("KERASTUNER_TUNER_ID", "local"),
                      "reason": _reason(trial.message)}
            _write_json(Path(self.get_trial_dir(trial.trial_id)) / TRIAL_FILE, record)
            self.done_here += 1
            print(self._progress_line(trial), flush=True)

        def _progress_line(self, trial: Any) -> str:
            finished = [t for t in self.oracle.trials.values()
                        if t.status in ("COMPLETED", "FAILED", "INVALID")] \
                if hasattr(self.oracle, "trials") else []
            count = max(len(finished), self.done_here)
            elapsed = time.time() - self.started
            total = f"/{self.total}" if self.total else ""
            trial = self.oracle.get_trial(trial.trial_id)  # a worker's copy lacks the score
            score = f"{trial.score:.4f}" if trial.score is not None else "failed"
            best = self.oracle.get_best_trials(1)
            best_text = f"{best[0].score:.4f}" if best and best[0].score is not None else "-"
            eta = ""
            if self.total and self.done_here:
                left = max(self.total - count, 0)
                eta = f"  eta {_clock(elapsed / self.done_here * left)}"
            return (f"trial {count}{total}  score {score}  best {best_text}  "
                    f"elapsed {_clock(elapsed)}{eta}")

    ReportingTuner.__name__ = f"Kerakit{base.__name__}"
    return ReportingTuner


def tune(
    decl: Model,
    data: Any,
    *,
    tuner: str = "random",
    objective: str | None = None,
    max_trials: int = 10,
    max_epochs: int | None = 20,
    directory: str | Path | None = None,
    overwrite: bool = False,
    seed: int | None = None,
    max_consecutive_failed_trials: int = 3,
    retrain_best: bool = False,
) -> TuneResult:
    """Search a declaration's hyperparameters with KerasTuner.

    Args:
        decl: A declaration with placeholders (see :mod:`kerakit.hp`).
        data: As for :func:`kerakit.fit`.
        tuner: ``"random"``, ``"bayesian"``, ``"hyperband"`` or ``"grid"``.
        objective: A logged metric such as ``"val_accuracy"``; defaults to
            ``val_accuracy`` for classifiers and ``val_loss`` otherwise.
        max_trials: Trials to run (random, Bayesian, grid); Hyperband sizes its
            brackets from ``max_epochs`` instead.
        max_epochs: Cap on the epochs of one trial (Hyperband's ``max_epochs``);
            ``None`` leaves the declaration's epochs.
        directory: The tuning directory; defaults to ``tuning/<name>``.
        overwrite: Start afresh instead of resuming a search in ``directory``.
        seed: Seed of the search and of every model; defaults to the declaration's.
        max_consecutive_failed_trials: Stop after this many failures in a row.
        retrain_best: Retrain the best declaration on train + validation and
            evaluate it on test, as a run directory ``best_run/``.

    Returns:
        A :class:`TuneResult`.

    Raises:
        DeclarationError: for an empty search space, a continuous range in a
            grid search, or an objective that is not logged.
        ValueError: for an unknown tuner or ``max_trials < 1``.

    Example:
        >>> result = tune(decl, "digits", tuner="random", max_trials=5)
        >>> kerakit.fit(result.best, "digits")
    """
    from kerakit.builder import build
    from kerakit.plugins import current_registry
    from kerakit.spec import check
    from kerakit.train import check_data, load_data

    if tuner not in TUNERS:
        raise ValueError(f"Invalid tuner. Expected one of: {', '.join(TUNERS)}. "
                         f"Received: tuner={tuner!r}")
    if not isinstance(max_trials, int) or max_trials < 1:
        raise ValueError(f"Invalid max_trials. Expected an int >= 1. "
                         f"Received: max_trials={max_trials!r}")
    if seed is not None:
        decl = decl.replace(seed=seed)
    check(decl, current_registry().get)
    check_search_space(decl, tuner)
    defaults = resolve(decl)
    dataset = load_data(data, defaults)
    if not isinstance(dataset, Dataset):
        raise DataError(
            "Invalid data for tune. Expected a registered dataset name, a kerakit.Dataset or "
            "numpy arrays (trials re-split and re-batch the data). Received: tf.data pipelines"
        )
    check_data(defaults, dataset)
    objective = objective or _default_objective(defaults)
    _check_objective(build(defaults, adapt_data=dataset.x_train[:64]), dataset, objective)

    directory = Path(directory) if directory is not None else Path("tuning") / decl.name
    kt_tuner = make_tuner(decl, dataset, tuner, objective, max_trials, max_epochs, directory,
                          overwrite, max_consecutive_failed_trials)
    with patched_keras_tuner():
        kt_tuner.search(verbose=0)
    if "KERASTUNER_ORACLE_IP" in os.environ:
        return None  # type: ignore[return-value]  # a distributed chief or worker: no results here
    return collect(decl, dataset, tuner, objective, max_trials, max_epochs, directory,
                   retrain_best=retrain_best)


def make_tuner(decl: Model, dataset: Dataset, tuner: str, objective: str, max_trials: int,
               max_epochs: int | None, directory: Path, overwrite: bool,
               max_consecutive_failed_trials: int = 3) -> Any:
    """The KerasTuner tuner for a declaration (resuming from ``directory`` unless overwrite)."""
    import keras_tuner as kt

    hypermodel = _hypermodel_class()(decl, dataset, max_epochs)
    common = {"objective": kt.Objective(objective, _direction(objective)),
              "seed": int(decl.seed or 0), "directory": str(directory), "project_name": PROJECT,
              "overwrite": overwrite,
              "max_consecutive_failed_trials": max_consecutive_failed_trials}
    cls = _tuner_class(tuner)
    if tuner == "hyperband":
        epochs = max_epochs or min(int(resolve(decl).epochs), 30)
        instance = cls(hypermodel, max_epochs=epochs, factor=3, **common)
    else:
        instance = cls(hypermodel, max_trials=max_trials, **common)
        instance.total = max_trials
    return instance


def collect(decl: Model, dataset: Dataset, tuner: str, objective: str | None, max_trials: int,
            max_epochs: int | None, directory: Path, *, retrain_best: bool = False) -> TuneResult:
    """Read a finished search from its directory, write the outputs, return the result.

    ``objective=None`` means the default for the declaration's head, as in :func:`tune`.
    """
    from kerakit.report import plot_tuning, write_trials_csv

    objective = objective or _default_objective(resolve(decl))

    with contextlib.redirect_stdout(io.StringIO()):  # KerasTuner announces the reload
        loaded = make_tuner(decl, dataset, tuner, objective, max_trials, max_epochs, directory,
                            overwrite=False)
    trials = trial_rows(loaded, directory)
    completed = [t for t in loaded.oracle.trials.values() if t.status == "COMPLETED"]
    if not completed:
        reasons = "; ".join(sorted({r["reason"] for r in trials if r["reason"]})) or "unknown"
        raise KerakitError(f"Every trial failed; no best declaration. Reasons: {reasons}")
    best_trial = loaded.oracle.get_best_trials(1)[0]
    values = {k: v for k, v in best_trial.hyperparameters.values.items()
              if not k.startswith("tuner/")}
    best = resolve(decl, FixedSampler(values))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optimizer slots are not restored; not needed here
            best_model = loaded.get_best_models(1)[0]
    except Exception:  # the weights may be missing after an interrupted search
        best_model = None
    _write_json(directory / "best_hyperparameters.json", values)
    (directory / "best_declaration.json").write_text(best.to_json())
    write_trials_csv(trials, directory / "trials.csv")
    plot_tuning(trials, directory / "tuning.png", objective)
    epochs = int(best_trial.best_step) + 1
    result = TuneResult(values, best, trials, best_model, directory, best_trial.score, objective,
                        epochs)
    if retrain_best:
        result.best_run = retrain(best, dataset, directory / "best_run", epochs)
    return result


def retrain(best: Model, data: Dataset, out: Path, epochs: int) -> Any:
    """Train the best declaration on train + validation, then evaluate on test.

    Early stopping is dropped, since the validation data is now trained on;
    the run lasts ``epochs``, where the best trial peaked.
    """
    import numpy as np

    from kerakit.train import fit

    merged = Dataset(
        data.name, np.concatenate([data.x_train, data.x_val]),
        np.concatenate([data.y_train, data.y_val]), data.x_val, data.y_val, data.x_test,
        data.y_test, task=data.task, class_names=data.class_names)
    callbacks = [c for c in best.callbacks if c.short_name not in ("early_stopping",)]
    return fit(best.replace(callbacks=callbacks, epochs=epochs), merged, out=out,
               overwrite=True, verbose=0)


def trial_rows(loaded: Any, directory: Path) -> list[dict[str, Any]]:
    """One row per trial, in trial order, with kerakit's timing records."""
    rows = []
    for trial in sorted(loaded.oracle.trials.values(), key=lambda t: t.trial_id):
        record_path = directory / PROJECT / f"trial_{trial.trial_id}" / TRIAL_FILE
        record = json.loads(record_path.read_text()) if record_path.exists() else {}
        values = {k: v for k, v in trial.hyperparameters.values.items()
                  if not k.startswith("tuner/")}
        rows.append({"trial": trial.trial_id, "status": trial.status, "score": trial.score,
                     "seconds": record.get("seconds"), "worker": record.get("worker"),
                     "reason": record.get("reason") or _reason(trial.message), **values})
    return rows


@contextlib.contextmanager
def patched_keras_tuner() -> Iterator[None]:
    """Two fixes to KerasTuner 1.4, active while searching.

    - Its JSON state (``oracle.json``, each ``trial.json``) is written in place,
      so a kill in mid-write leaves a truncated file and the search cannot
      resume; here it is written to a temporary file and renamed.
    - ``conditions.py`` prints the value of every conditional scope it sends
      over gRPC (a left-over debug print); here that print is silenced.
    """
    from keras_tuner.src import utils
    from keras_tuner.src.engine import conditions

    original = utils.save_json

    def save_json(path: str, obj: Any) -> str:
        text = json.dumps(obj)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return text

    utils.save_json = save_json
    conditions.print = lambda *args, **kwargs: None
    try:
        yield
    finally:
        utils.save_json = original
        del conditions.print


def _default_objective(decl: Model) -> str:
    from kerakit.builder import head_info

    return "val_accuracy" if head_info(decl)["task"] == "classification" else "val_loss"


def _check_objective(model: Any, data: Dataset, objective: str) -> None:
    logged = model.evaluate(data.x_val[:4], data.y_val[:4], verbose=0, return_dict=True)
    names = sorted([*logged, *(f"val_{k}" for k in logged)])
    if objective not in names:
        raise DeclarationError(
            f"Invalid objective. Expected a logged metric, one of: {', '.join(names)}. "
            f"Received: objective={objective!r}"
        )


def _direction(objective: str) -> str:
    lowered = objective.lower()
    return "min" if any(w in lowered for w in ("loss", "error", "mae", "mse")) else "max"


def _reason(message: str | None) -> str:
    if not message:
        return ""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, path)
