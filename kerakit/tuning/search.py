"""Hyperparameter search with KerasTuner: one declaration is the search space.

:func:`tune` wraps the declaration in one ``keras_tuner.HyperModel`` whose
``build`` resolves every placeholder from the trial's hyperparameters and
whose ``fit`` tunes the batch size and epochs too. The tuner is KerasTuner's
own (random, Bayesian, Hyperband or grid), with kerakit's additions: one
progress line per trial, failed trials recorded with their reason, atomic
state files for resuming after ``kill -9``, and the outputs written to the
tuning directory.

KerasTuner is the default tuner engine; a plugin's engine
(:mod:`kerakit.tuning.engines`) gets the same checked :class:`Search` and
writes the same outputs through :meth:`Search.finish`.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerakit.data import Dataset
from kerakit.declaration.model import Model, Sampler, resolve
from kerakit.engine.plan import Plan, plan
from kerakit.errors import DataError, DeclarationError, KerakitError
from kerakit.tuning.adapter import (
    PROJECT,
    hypermodel_class,
    patched_keras_tuner,
    trial_rows,
    tuner_class,
    write_json,
)
from kerakit.tuning.engines import DEFAULT_ENGINE, TunerEngine, get_engine
from kerakit.tuning.search_space import FixedSampler, check_search_space

TUNERS = ("random", "bayesian", "hyperband", "grid")


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


@dataclass(frozen=True)
class SearchOptions:
    """How to search: validated once, shared by the local search and its workers."""

    tuner: str = "random"
    objective: str | None = None
    max_trials: int = 10
    max_epochs: int | None = 20
    max_consecutive_failed_trials: int = 3

    def __post_init__(self) -> None:
        if self.tuner not in TUNERS:
            raise ValueError(f"Invalid tuner. Expected one of: {', '.join(TUNERS)}. "
                             f"Received: tuner={self.tuner!r}")
        for name in ("max_trials", "max_consecutive_failed_trials"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Invalid {name}. Expected an int >= 1. "
                                 f"Received: {name}={value!r}")
        value = self.max_epochs
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise ValueError(f"Invalid max_epochs. Expected None or an int >= 1. "
                             f"Received: max_epochs={value!r}")


def tune(
    decl: Model,
    data: Any,
    *,
    target: str | Sequence[str] | None = None,
    tuner: str = "random",
    objective: str | None = None,
    max_trials: int = 10,
    max_epochs: int | None = 20,
    directory: str | Path | None = None,
    overwrite: bool = False,
    seed: int | None = None,
    max_consecutive_failed_trials: int = 3,
    retrain_best: bool = False,
    workers: int | None = None,
    engine: str | None = None,
    track: Sequence[str] = (),
    **engine_options: Any,
) -> TuneResult:
    """Search a declaration's hyperparameters with KerasTuner, or a plugin's tuner engine.

    Args:
        decl: A declaration with placeholders (see :mod:`kerakit.hp`).
        data: As for :func:`kerakit.fit` (arrays, a ``Dataset``, a registered name,
            a table, a ``.npz`` file or an image folder, loaded into memory).
        target: The target column(s), when ``data`` is a table file or DataFrame.
        tuner: ``"random"``, ``"bayesian"``, ``"hyperband"`` or ``"grid"``.
        objective: A logged metric such as ``"val_accuracy"``; defaults to
            ``val_accuracy`` for classifiers and ``val_loss`` otherwise.
        max_trials: Trials to run (random, Bayesian, grid); Hyperband sizes its
            brackets from ``max_epochs`` instead.
        max_epochs: Cap on the epochs of one trial (Hyperband's ``max_epochs``);
            ``None`` leaves the declaration's epochs.
        directory: The tuning directory; defaults to ``tuning/<name>``.
        overwrite: Start afresh instead of resuming a search in ``directory``;
            only a kerakit tuning directory is deleted, anything else is refused.
        seed: Seed of the search and of every model; defaults to the declaration's.
        max_consecutive_failed_trials: Stop after this many failures in a row.
        retrain_best: Retrain the best declaration on train + validation and
            evaluate it on test, as a run directory ``best_run/``.
        workers: Run the search in this many worker processes on this machine
            (KerasTuner's distributed mode, with a chief serving the oracle).
        engine: The tuner engine: ``"keras_tuner"`` (the default) or one a
            plugin registers, such as ``"optuna"`` from ``kerakit-optuna``.
        track: Experiment trackers (``"mlflow"``, ``"tensorboard"``), besides the
            declaration's and ``KERAKIT_TRACK``'s: one parent run for the search,
            one child run per trial. A ``tensorboard`` callback turns on
            ``tensorboard``. A failing tracker only warns.
        **engine_options: The engine's own options (``storage``, ``study``,
            ``pruner`` for ``optuna``); the default engine takes none.

    Returns:
        A :class:`TuneResult`.

    Raises:
        DeclarationError: for an empty search space, a continuous range in a
            grid search, or an objective that is not logged.
        ValueError: for an unknown tuner or engine, an option the engine does not
            take, or a count below 1.
        FileExistsError: if ``overwrite`` would delete something that is not a
            kerakit tuning directory.
        LockedError: if another search is writing to ``directory``.

    Example:
        >>> result = tune(decl, "digits", tuner="random", max_trials=5)  # doctest: +SKIP
        >>> kerakit.fit(result.best, "digits")  # doctest: +SKIP
    """
    options = SearchOptions(tuner, objective, max_trials, max_epochs,
                            max_consecutive_failed_trials)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ValueError(f"Invalid workers. Expected None or an int >= 1. "
                         f"Received: workers={workers!r}")
    runner = KerasTunerEngine() if engine in (None, DEFAULT_ENGINE) else get_engine(engine)
    runner.check_request(options.tuner, workers, engine_options)
    from kerakit.engine.inputs import with_target

    search = prepare(decl, with_target(data, target), options, seed=seed)
    directory = Path(directory) if directory is not None else Path("tuning") / decl.name
    from kerakit.runs.locks import hold_lock
    from kerakit.tuning.distributed import check_tuning_dir

    # its own workers share it, unlocked; so do the processes of an engine that shares it
    lock = (contextlib.nullcontext() if runner.shares_directory
            else hold_lock(directory, "tuning directory"))
    with lock:
        check_tuning_dir(directory, overwrite)
        tracking = _search_tracking(search, track)
        with tracking.search_run(decl.name, directory) as outcome:
            result = runner.search(search, directory, overwrite=overwrite, workers=workers,
                                   **engine_options)
            if result.best_score is not None:
                outcome.metrics = {search.objective: float(result.best_score)}
        if retrain_best:
            result.best_run = retrain(result.best, search.dataset, directory / "best_run",
                                      result.best_epochs or int(result.best.epochs), track)
    return result


def _search_tracking(search: Search, track: Sequence[str]) -> Any:
    """The search's trackers, listening to its trials."""
    from kerakit.runs.tracking import SearchTracking, Tracking, tracker_names, versions_of

    names = tracker_names(track, search.decl)
    if "tensorboard" not in names and any(
            getattr(c, "short_name", None) == "tensorboard" for c in search.decl.callbacks):
        names.append("tensorboard")  # the callback's logs get the HParams dashboard too
    tracking = SearchTracking(Tracking.open(names, search.default.registry), search.decl,
                              search.dataset, versions_of(search.default), search.objective)
    search.listeners.append(tracking)
    return tracking


class KerasTunerEngine(TunerEngine):
    """The built-in engine: KerasTuner's tuners, here or with local workers."""

    name = DEFAULT_ENGINE
    tuners = TUNERS
    supports_workers = True

    def search(self, search: Search, directory: Path, *, overwrite: bool,
               workers: int | None, **options: Any) -> TuneResult:
        if workers:
            from kerakit.tuning.distributed import run_search_workers

            run_search_workers(search, directory, workers, overwrite=overwrite)
        else:
            with patched_keras_tuner():
                search.make_tuner(directory, overwrite).search(verbose=0)
        return collect(search, directory)


@dataclass
class Search:
    """A checked search: the declaration, its default plan, the data and the options."""

    decl: Model
    default: Plan
    dataset: Dataset
    options: SearchOptions
    objective: str
    #: Told of each trial's start and end (``trial_started`` / ``trial_finished``).
    listeners: list[Any] = field(default_factory=list)

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
        for listener in self.listeners:
            listener.trial_finished(row)

    def finish(self, directory: Path, trials: list[dict[str, Any]], values: dict[str, Any],
               score: float | None, epochs: int | None, model: Any = None) -> TuneResult:
        """Write the outputs every engine writes and return the result.

        Each file is replaced in one step, so processes that finish the same
        search together leave whole files.

        Args:
            trials: ``trials.csv`` rows: trial, status, score, seconds, worker,
                reason, then the hyperparameters.
            values: The best trial's hyperparameter values.
            score: The best trial's objective value.
            epochs: Epochs at which the best trial peaked.
            model: The best trained model, when the engine keeps it.
        """
        from kerakit.runs.report import plot_tuning, write_trials_csv

        best = resolve(self.decl, FixedSampler(values))
        directory.mkdir(parents=True, exist_ok=True)
        tag = f"tmp-{os.getpid()}"  # one temporary name per process
        write_json(directory / f"best_hyperparameters.{tag}.json", values)
        os.replace(directory / f"best_hyperparameters.{tag}.json",
                   directory / "best_hyperparameters.json")
        (directory / f"best_declaration.{tag}.json").write_text(best.to_json())
        os.replace(directory / f"best_declaration.{tag}.json",
                   directory / "best_declaration.json")
        write_trials_csv(trials, directory / f"trials.{tag}.csv")
        os.replace(directory / f"trials.{tag}.csv", directory / "trials.csv")
        plot_tuning(trials, directory / f"tuning.{tag}.png", self.objective,
                    direction(self.objective))
        os.replace(directory / f"tuning.{tag}.png", directory / "tuning.png")
        return TuneResult(values, best, trials, model, directory, score, self.objective, epochs)

    def make_tuner(self, directory: Path, overwrite: bool) -> Any:
        """The KerasTuner tuner (resuming from ``directory`` unless ``overwrite``)."""
        import keras_tuner as kt

        o = self.options
        hypermodel = hypermodel_class()(self.decl, self.default.registry, self.dataset,
                                         o.max_epochs)
        common = {"objective": kt.Objective(self.objective, direction(self.objective)),
                  "seed": int(self.decl.seed or 0), "directory": str(directory),
                  "project_name": PROJECT, "overwrite": overwrite,
                  "max_consecutive_failed_trials": o.max_consecutive_failed_trials}
        cls = tuner_class(o.tuner)
        if o.tuner == "hyperband":
            epochs = o.max_epochs or min(int(self.default.declaration.epochs), 30)
            instance = cls(hypermodel, max_epochs=epochs, factor=3, **common)
        else:
            instance = cls(hypermodel, max_trials=o.max_trials, **common)
            instance.total = o.max_trials
        instance.events = self
        return instance


def prepare(decl: Model, data: Any, options: SearchOptions, *, seed: int | None = None
            ) -> Search:
    """Check the declaration, its search space, the data and the objective, once.

    Raises:
        DeclarationError: for a bad declaration, search space or objective.
        DataError: for data that does not fit, or ``tf.data`` pipelines.
    """
    from kerakit.engine.inputs import prepare as prepare_data

    if seed is not None:
        decl = decl.replace(seed=seed)
    default = plan(decl)  # checks every branch, then resolves the defaults
    check_search_space(decl, options.tuner)
    # a table's columns enter the declaration; an image folder is loaded into memory
    default, dataset = prepare_data(data, default, in_memory=True)
    decl = default.source
    if not isinstance(dataset, Dataset):
        raise DataError(
            "Invalid data for tune. Expected a registered dataset name, a kerakit.Dataset or "
            "numpy arrays (trials re-split and re-batch the data). Received: tf.data pipelines"
        )
    objective = options.objective or default.default_objective
    _check_objective(default.build(adapt_data=dataset.x_train[:64]), dataset, objective)
    return Search(decl, default, dataset, options, objective)


def join_search(decl: Model, data: Any, *, role: str, oracle: str | None = None,
                directory: str | Path | None = None, seed: int | None = None,
                allow_remote_oracle: bool = False, **options: Any) -> None:
    """Take part in a search run across machines: serve the oracle, or run trials.

    The chief (``role="chief"``) serves KerasTuner's oracle over gRPC at
    ``oracle`` (``HOST:PORT``, or ``KERASTUNER_ORACLE_IP`` / ``_PORT``);
    workers (``role="worker"``) ask it for trials. Results are read from the
    chief's directory with :func:`collect` once the search is done.

    KerasTuner's gRPC has no authentication, so the chief serves only on a
    loopback address unless ``allow_remote_oracle=True``; then bind it to a
    private network only.

    Raises:
        ValueError: for an unknown role, no oracle address, or a chief on a
            non-loopback address without ``allow_remote_oracle``.
    """
    from kerakit.tuning.distributed import join_env

    if role == "chief" and not allow_remote_oracle:
        check_loopback(oracle)

    search = prepare(decl, data, SearchOptions(**options), seed=seed)
    directory = Path(directory) if directory is not None else Path("tuning") / decl.name
    with join_env(role, oracle), patched_keras_tuner():
        search.make_tuner(directory, overwrite=False).search(verbose=0)


def check_loopback(oracle: str | None) -> None:
    """Refuse a chief address other than loopback (``oracle`` or ``KERASTUNER_ORACLE_IP``).

    Raises:
        ValueError: naming the address and the flag that allows it.
    """
    import ipaddress
    import socket

    host = oracle.rpartition(":")[0] if oracle else os.environ.get("KERASTUNER_ORACLE_IP", "")
    host = host.strip("[]")
    if not host:
        return  # no address at all: join_env says so
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # a host name: what it resolves to
        try:
            address = ipaddress.ip_address(socket.gethostbyname(host)) if host else None
        except OSError:
            address = None
    if address is None or not address.is_loopback:
        raise ValueError(
            "Invalid oracle address for the chief. Expected a loopback address (127.0.0.1, "
            "localhost): KerasTuner's chief serves gRPC with no authentication. On a private "
            "network only, pass allow_remote_oracle=True (--allow-remote-oracle). "
            f"Received: oracle={oracle or host!r}")


def collect(search: Search, directory: Path, *, retrain_best: bool = False) -> TuneResult:
    """Read a finished search from its directory, write the outputs, return the result.

    Raises:
        KerakitError: if every trial failed.
    """
    with contextlib.redirect_stdout(io.StringIO()):  # KerasTuner announces the reload
        loaded = search.make_tuner(directory, overwrite=False)
    trials = trial_rows(loaded, directory)
    completed = [t for t in loaded.oracle.trials.values() if t.status == "COMPLETED"]
    if not completed:
        reasons = "; ".join(sorted({r["reason"] for r in trials if r["reason"]})) or "unknown"
        raise KerakitError(f"Every trial failed; no best declaration. Reasons: {reasons}")
    best_trial = loaded.oracle.get_best_trials(1)[0]
    values = {k: v for k, v in best_trial.hyperparameters.values.items()
              if not k.startswith("tuner/")}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optimizer slots are not restored; not needed here
            best_model = loaded.get_best_models(1)[0]
    except Exception:  # the weights may be missing after an interrupted search
        best_model = None
    epochs = int(best_trial.best_step) + 1
    result = search.finish(directory, trials, values, best_trial.score, epochs, best_model)
    if retrain_best:
        result.best_run = retrain(result.best, search.dataset, directory / "best_run", epochs)
    return result


def retrain(best: Model, data: Dataset, out: Path, epochs: int,
            track: Sequence[str] = ()) -> Any:
    """Train the best declaration on train + validation, then evaluate on test.

    Early stopping is dropped, since the validation data is now trained on;
    the run lasts ``epochs``, where the best trial peaked.
    """
    import numpy as np

    from kerakit.engine.inputs import join_rows
    from kerakit.runs.train import fit

    merged = Dataset(
        data.name, join_rows(data.x_train, data.x_val),
        np.concatenate([data.y_train, data.y_val]), data.x_val, data.y_val, data.x_test,
        data.y_test, task=data.task, class_names=data.class_names)
    callbacks = [c for c in best.callbacks if c.short_name not in ("early_stopping",)]
    return fit(best.replace(callbacks=callbacks, epochs=epochs), merged, out=out,
               overwrite=True, verbose=0, track=track)


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


def direction(objective: str) -> str:
    """``"min"`` for losses and errors, ``"max"`` otherwise: the tuner's direction."""
    lowered = objective.lower()
    return "min" if any(w in lowered for w in ("loss", "error", "mae", "mse")) else "max"
