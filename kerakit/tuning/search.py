"""``kerakit.tune``: check a search once, hand it to a tuner engine, retrain the best.

:func:`tune` resolves the engine (KerasTuner by default, or a plugin's, all
registered through the ``kerakit_tuner_engines`` hook), lets it refuse a bad
request before anything is loaded, checks the declaration, data and objective
once (:func:`prepare`), and runs the engine's search with the tuning
directory locked, experiment trackers listening and ``retrain_best`` done the
same for every engine.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kerakit.data import Dataset
from kerakit.declaration.model import Model
from kerakit.engine.plan import plan
from kerakit.errors import DataError, DeclarationError
from kerakit.tuning.budget import SearchClock, parse_duration
from kerakit.tuning.checked_search import Search
from kerakit.tuning.directory import remark_tuning_dir, start_tuning_dir
from kerakit.tuning.engines import DEFAULT_ENGINE, get_engine
from kerakit.tuning.objective import direction
from kerakit.tuning.options import SearchOptions, check_count
from kerakit.tuning.result import TuneResult
from kerakit.tuning.search_space import check_search_space

__all__ = ["TuneResult", "direction", "prepare", "retrain", "tune"]

_DEFAULTS = SearchOptions()


def tune(
    decl: Model,
    data: Any,
    *,
    target: str | Sequence[str] | None = None,
    tuner: str | None = None,
    objective: str | None = None,
    max_trials: int = _DEFAULTS.max_trials,
    max_epochs: int | None = _DEFAULTS.max_epochs,
    out: str | Path | None = None,
    overwrite: bool = False,
    seed: int | None = None,
    max_consecutive_failed_trials: int = _DEFAULTS.max_consecutive_failed_trials,
    retrain_best: bool = False,
    workers: int | None = None,
    engine: str | None = None,
    track: Sequence[str] = (),
    verbose: int = _DEFAULTS.verbose,
    cv: int | None = None,
    time_budget: str | float | None = None,
    **engine_options: Any,
) -> TuneResult:
    """Search a declaration's hyperparameters with a tuner engine (KerasTuner by default).

    Long because its docstring documents every keyword; the work is in
    :func:`prepare` and the engine.

    Example:
        >>> result = tune(decl, "digits", max_trials=5, out="tuning/digits")  # doctest: +SKIP
        >>> kerakit.fit(result.best, "digits")  # doctest: +SKIP

    Args:
        decl: A declaration with placeholders (see :mod:`kerakit.hp`).
        data: As for :func:`kerakit.fit` (loaded into memory).
        target: The target column(s), when ``data`` is a table file or DataFrame.
        tuner: One of the engine's tuners (KerasTuner: ``"random"``, the default,
            ``"bayesian"``, ``"hyperband"``, ``"grid"``).
        objective: A logged metric; defaults to ``val_accuracy`` for
            classifiers and ``val_loss`` otherwise.
        max_trials: Trials to run; Hyperband sizes its brackets from ``max_epochs``.
        max_epochs: Cap on one trial's epochs; ``None`` leaves the declaration's.
        out: The tuning directory; defaults to ``tuning/<name>``. (``directory=``
            is its deprecated name.)
        overwrite: Start afresh instead of resuming a search in ``out``.
        seed: Overrides the declaration's seed.
        max_consecutive_failed_trials: Stop after this many failures in a row.
        retrain_best: Retrain the best declaration on train + validation into
            ``out/best_run`` and evaluate it on test.
        workers: Local worker processes, for engines that support them.
        engine: The tuner engine's name (see :func:`kerakit.tuner_engines`).
        track: Experiment trackers told of the search and each trial.
        verbose: ``0`` silences the per-trial progress lines.
        cv: Score each trial by the mean of its validation objective over this
            many stratified folds of the training rows (each fold's model at
            its best epoch); the folds are fixed by the seed, the same for
            every trial. ``trials.csv`` gets each trial's fold scores and std.
        time_budget: The search's total time, such as ``"20m"``, ``"90s"``,
            ``"1.5h"`` or seconds: no trial starts after it, a running one
            stops at its next epoch end, and a resumed search counts the time
            already spent.
        **engine_options: The engine's own options, such as Optuna's ``storage``.

    Returns:
        A :class:`TuneResult`.

    Raises:
        UsageError: for an unknown engine or tuner, an option the engine does
            not take, a count below 1, ``cv`` below 2 or a bad ``time_budget``.
        DeclarationError: for an empty search space, a continuous range in a
            grid search, or an objective that is not logged.
        FileExistsError: if ``overwrite`` would delete a non-tuning directory.
        LockedError: if another search is writing to ``out``.
    """
    directory = out_directory(out, engine_options.pop("directory", None), decl.name)
    runner = get_engine(engine or DEFAULT_ENGINE)
    tuner = tuner or runner.default_tuner
    options = SearchOptions(tuner, objective, max_trials, max_epochs,
                            max_consecutive_failed_trials, verbose, cv,
                            parse_duration(time_budget))
    if workers is not None:
        check_count("workers", workers, "None or an int >= 1")
    runner.check_request(tuner, workers, engine_options)
    runner.check_options(options, engine_options)
    search = prepare(decl, data, options, seed=seed, target=target)
    result = _run(runner, search, directory, overwrite, workers, track, engine_options)
    if retrain_best:
        result.best_run = retrain(result.best, search.dataset, directory / "best_run",
                                  result.best_epochs or int(result.best.epochs), track)
    return result


def out_directory(out: str | Path | None, directory: str | Path | None, name: str) -> Path:
    """The tuning directory from ``out=``, or from the deprecated ``directory=``.

    Example:
        >>> out_directory(None, None, "digits")
        PosixPath('tuning/digits')

    Raises:
        UsageError: if both are given.
    """
    if directory is not None:
        warnings.warn("`directory=` is deprecated; use `out=`, as kerakit.fit does.",
                      DeprecationWarning, stacklevel=3)
        if out is not None:
            from kerakit.errors import UsageError

            raise UsageError("Invalid arguments. Expected `out=` alone (`directory=` is its "
                             f"deprecated name). Received: out={str(out)!r}, "
                             f"directory={str(directory)!r}")
        out = directory
    return Path(out) if out is not None else Path("tuning") / name


def _run(runner: Any, search: Search, directory: Path, overwrite: bool, workers: int | None,
         track: Sequence[str], engine_options: dict[str, Any]) -> TuneResult:
    """The engine's search, with the directory locked (unless shared) and trackers told."""
    from kerakit.runs.locks import hold_lock

    # its own workers share it, unlocked; so do the processes of an engine that shares it
    lock = (contextlib.nullcontext() if runner.shares_directory
            else hold_lock(directory, "tuning directory"))
    with lock:
        # the marker is the directory's first file, before any engine (a plugin's too) writes
        marked = start_tuning_dir(directory, overwrite)
        search.clock = SearchClock.start(directory, search.options.time_budget,
                                         overwrite=overwrite)
        tracking = _search_tracking(search, track)
        try:
            with tracking.search_run(search.decl.name, directory) as outcome:
                result = runner.search(search, directory, overwrite=overwrite,
                                       workers=workers, **engine_options)
                if result.best_score is not None:
                    outcome.metrics = {search.objective: float(result.best_score)}
        finally:
            search.clock.save()
            if marked:  # an engine that cleared the directory to start afresh took it away
                remark_tuning_dir(directory)
    result.extra.setdefault("time_spent", round(search.clock.spent(), 2))
    return result


def _search_tracking(search: Search, track: Sequence[str]) -> Any:
    """The search's trackers, listening to its trials."""
    from kerakit.runs.search_tracking import SearchTracking
    from kerakit.runs.tracking import Tracking, tracker_names, versions_of

    names = tracker_names(track, search.decl)
    if "tensorboard" not in names and any(
            getattr(c, "short_name", None) == "tensorboard" for c in search.decl.callbacks):
        names.append("tensorboard")  # the callback's logs get the HParams dashboard too
    tracking = SearchTracking(Tracking.open(names, search.default.registry), search.decl,
                              search.dataset, versions_of(search.default), search.objective)
    search.listeners.append(tracking)
    return tracking


def prepare(decl: Model, data: Any, options: SearchOptions, *, seed: int | None = None,
            target: str | Sequence[str] | None = None) -> Search:
    """Check the declaration, its search space, the data and the objective, once.

    Example:
        >>> search = prepare(space, "iris", SearchOptions(tuner="random"))  # doctest: +SKIP

    Args:
        decl: The declaration with placeholders.
        data: Anything :func:`kerakit.fit` takes, loaded into memory.
        options: How to search.
        seed: Overrides the declaration's seed.
        target: The target column(s) of a table.

    Returns:
        The checked :class:`~kerakit.tuning.Search`.

    Raises:
        DeclarationError: for a bad declaration, search space or objective.
        DataError: for data that does not fit, or ``tf.data`` pipelines.
    """
    from kerakit.engine.preparation import prepare as prepare_data

    if seed is not None:
        decl = decl.replace(seed=seed)
    plan(decl)  # checks every branch of the space before the data is read
    check_search_space(decl, options.tuner or "")
    # a table's columns enter the declaration; an image folder is loaded into memory
    default, dataset = prepare_data(data, decl, target=target, in_memory=True)
    decl = default.source
    if not isinstance(dataset, Dataset):
        raise DataError(
            "Invalid data for tune. Expected a registered dataset name, a kerakit.Dataset or "
            "numpy arrays (trials re-split and re-batch the data). Received: tf.data pipelines"
        )
    objective = options.objective or default.default_objective
    _check_objective(default.build(adapt_data=dataset.x_train[:64]), dataset, objective)
    return Search(decl, default, dataset, options, objective)


def retrain(best: Model, data: Dataset, out: Path, epochs: int,
            track: Sequence[str] = ()) -> Any:
    """Train the best declaration on train + validation, then evaluate on test.

    Early stopping and keep-best are off, since the validation data is now
    trained on; the run lasts ``epochs``, where the best trial peaked.

    Example:
        >>> run = retrain(result.best, dataset, Path("tuning/x/best_run"), 12)  # doctest: +SKIP

    Returns:
        The :class:`kerakit.Run`.
    """
    import numpy as np

    from kerakit.engine.inputs import join_rows
    from kerakit.runs.train import fit

    merged = Dataset(
        data.name, join_rows(data.x_train, data.x_val),
        np.concatenate([data.y_train, data.y_val]), data.x_val, data.y_val, data.x_test,
        data.y_test, task=data.task, class_names=data.class_names)
    callbacks = [c for c in best.callbacks if c.short_name not in ("early_stopping",)]
    # its validation rows are trained on, so they cannot choose an epoch: the count is fixed
    return fit(best.replace(callbacks=callbacks, epochs=epochs, keep_best=False), merged,
               out=out, overwrite=True, verbose=0, track=track)


def _check_objective(model: Any, data: Dataset, objective: str) -> None:
    from kerakit.engine.inputs import model_x

    logged = model.evaluate(model_x(data.x_val[:4]), data.y_val[:4], verbose=0,
                            return_dict=True)
    names = sorted([*logged, *(f"val_{k}" for k in logged)])
    if objective not in names:
        raise DeclarationError(
            f"Invalid objective. Expected a logged metric, one of: {', '.join(names)}. "
            f"Received: objective={objective!r}"
        )
