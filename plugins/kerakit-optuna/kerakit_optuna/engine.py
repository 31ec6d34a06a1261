"""The ``optuna`` tuner engine: one loop every process runs, here or elsewhere.

Each process claims waiting trials of the shared study until none is left,
then waits for the others' running trials (failing those whose heartbeat
stopped) and writes the same outputs as the KerasTuner engine. Running the same
command in more processes, on more machines, is how the search scales out.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerakit.errors import KerakitError, UsageError
from kerakit.tuning import TunerEngine, TuneResult
from kerakit_optuna import study as studies
from kerakit_optuna.sampler import OptunaSampler, grid_values

if TYPE_CHECKING:
    from kerakit.tuning import Search

PRUNERS = ("median", "hyperband", "sha", "wilcoxon", "none")
STATUS = {"COMPLETE": "COMPLETED", "PRUNED": "PRUNED", "FAIL": "FAILED",
          "RUNNING": "RUNNING", "WAITING": "WAITING", "STOPPED": "STOPPED"}


class OptunaEngine(TunerEngine):
    """Optuna: the study lives in shared storage and any number of processes join it.

    Options:
        storage: An SQLAlchemy URL (``sqlite:///study.db``,
            ``postgresql://...``) or ``journal:PATH``; defaults to
            ``sqlite:///<directory>/optuna.db``.
        study: The study's name; defaults to the declaration's name.
        pruner: ``"median"``, ``"hyperband"``, ``"sha"`` (successive
            halving), ``"wilcoxon"`` (with ``cv`` only), ``"none"``, or an
            ``optuna.pruners.BasePruner``. The default is Optuna's own
            pairing: ``"wilcoxon"`` with ``cv``, else ``"hyperband"`` with
            the ``bayesian`` (TPE) tuner and ``"median"`` with the others.
        heartbeat: Seconds between a running trial's heartbeats (default 10);
            a trial silent for three heartbeats is marked failed.
    """

    tuners = ("random", "bayesian", "grid")
    options = ("storage", "study", "pruner", "heartbeat")
    shares_directory = True  # every process of the study writes the same outputs there

    @classmethod
    def add_arguments(cls, parser: argparse._ActionsContainer) -> None:
        """``--storage``, ``--study`` and ``--pruner`` for ``kerakit tune --engine optuna``."""
        parser.add_argument("--storage", help="SQLAlchemy URL or journal:PATH (default: "
                            "sqlite:///<out>/optuna.db); every process given it joins the study")
        parser.add_argument("--study", help="the study's name (default: the declaration's)")
        parser.add_argument("--pruner", choices=PRUNERS,
                            help="stop unpromising trials from per-epoch (with --cv: per-fold) "
                            "reports; default: wilcoxon with --cv, hyperband with "
                            "--tuner bayesian, median otherwise")

    def check_request(self, tuner: str, workers: int | None, options: dict[str, Any]) -> None:
        """Refuse a tuner, option, pruner name or heartbeat this engine does not take.

        Raises:
            UsageError: naming what was expected and what was received.
        """
        super().check_request(tuner, workers, options)
        pruner = options.get("pruner")
        if isinstance(pruner, str) and pruner not in PRUNERS:
            raise UsageError(f"Invalid value for argument `pruner`. Expected one of: "
                             f"{', '.join(PRUNERS)}. Received: pruner={pruner!r}")
        beat = options.get("heartbeat", 10)
        if isinstance(beat, bool) or not isinstance(beat, (int, float)) or beat <= 0:
            raise UsageError("Invalid value for argument `heartbeat`. Expected seconds > 0. "
                             f"Received: heartbeat={beat!r}")

    def check_options(self, options: Any, engine_options: dict[str, Any]) -> None:
        """Refuse the Wilcoxon pruner without ``cv``: it compares trials fold by fold.

        Raises:
            UsageError: for ``pruner="wilcoxon"`` without ``cv``.
        """
        if engine_options.get("pruner") == "wilcoxon" and not options.cv:
            raise UsageError("Invalid value for argument `pruner`. Expected 'wilcoxon' only "
                             "with cv >= 2: it pairs a trial's fold scores with the best "
                             "trial's. Received: pruner='wilcoxon' with cv=None")

    def search(self, search: Search, directory: Path, *, overwrite: bool, workers: int | None,
               storage: str | None = None, study: str | None = None, pruner: Any = None,
               heartbeat: float = 10) -> TuneResult:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        directory.mkdir(parents=True, exist_ok=True)
        url = storage or f"sqlite:///{(directory / 'optuna.db').resolve()}"
        name = study or search.decl.name
        budget = self._budget(search)
        opened = studies.open_storage(url)  # a bad storage fails here, before any claim
        # the default storage is recorded as where it is in the directory, which may move
        studies.claim_directory(directory, storage=storage or studies.DEFAULT_STORAGE,
                                name=name, fingerprint=_fingerprint(search),
                                overwrite=overwrite)
        loop = _Loop(search, directory, heartbeat)
        loop.study = studies.join_study(
            opened, name, direction=_optuna_direction(search),
            sampler_for=lambda joined: _sampler(search, budget, joined),
            pruner=_pruner(pruner, search, budget), budget=budget,
            fingerprint=_fingerprint(search), objective=search.objective, overwrite=overwrite,
            points=_grid_points(search, budget) if search.options.tuner == "grid" else None)
        loop.run(budget)
        return loop.collect()

    @staticmethod
    def _budget(search: Search) -> int:
        budget = search.options.max_trials
        if search.options.tuner == "grid":  # as KerasTuner's grid, stop when it is exhausted
            size = math.prod(len(grid_values(p)) for p in search.decl.hyperparameters().values())
            budget = min(budget, size)
        return budget


class _Loop:
    """One process's part of the search."""

    def __init__(self, search: Search, directory: Path, heartbeat: float) -> None:
        self.search, self.directory = search, directory
        self.heartbeat, self.grace = float(heartbeat), 3.0 * float(heartbeat)
        self.study: Any = None
        self.started = time.time()
        self.done_here = 0

    def run(self, budget: int) -> None:
        from optuna.trial import TrialState

        while True:
            studies.fail_stale_trials(self.study, self.grace)
            # once the time budget is spent no trial starts; the waiting ones stay for a rerun
            spent = self.search.clock.expired()
            trial_id = None if spent else studies.pop_trial(self.study)
            if trial_id is not None:
                self._run_trial(trial_id, budget)
                continue
            pending = (TrialState.RUNNING,) if spent else (TrialState.RUNNING, TrialState.WAITING)
            if not self.study.get_trials(deepcopy=False, states=pending):
                return
            time.sleep(min(1.0, self.heartbeat))  # others are still running trials

    def _run_trial(self, trial_id: int, budget: int) -> None:
        import optuna

        trial = optuna.trial.Trial(self.study, trial_id)
        trial.set_user_attr("worker", studies.worker_name())  # who holds it, while it runs
        start = time.time()
        with studies.Heartbeat(self.study, trial_id, self.heartbeat):
            state, value, reason, epochs = self._train(trial)
        try:
            trial.set_user_attr("seconds", round(time.time() - start, 2))
            trial.set_user_attr("reason", reason)
            if epochs is not None:
                trial.set_user_attr("best_epoch", epochs)
            # Optuna has no stopped state: a trial the time budget stopped is told as pruned
            self.study.tell(trial, value if state == "COMPLETE" else None,
                            state=getattr(optuna.trial.TrialState,
                                          "PRUNED" if state == "STOPPED" else state))
        except (optuna.exceptions.UpdateFinishedTrialError, ValueError):
            reason = "failed by another process (no heartbeat)"  # we were presumed dead
        self.done_here += 1
        if self.search.options.verbose:
            print(self._progress(trial.number, state, value, budget), flush=True)
        from kerakit.tuning import cv_columns

        self.search.trial_finished({"trial": trial.number, "status": STATUS[state],
                                    "score": value, "reason": reason,
                                    **cv_columns(trial.user_attrs, self.search.options.cv),
                                    "worker": studies.worker_name(), **trial.params})

    def _train(self, trial: Any) -> tuple[str, float | None, str, int | None]:
        """Train one trial (on every fold with ``cv``): ``(state, score, reason, epochs)``.

        With ``cv`` each fold's score is reported at its fold's index, so a
        pruner compares trials fold by fold; without, each epoch's objective.
        """
        import keras

        from kerakit.errors import KerakitError as BuildError
        from kerakit.tuning import TrialFailed, train_trial

        search = self.search
        keras.backend.clear_session()  # as KerasTuner does before each trial
        try:
            trial_plan = search.trial_plan(OptunaSampler(trial))
            search.trial_started(str(trial.number), dict(trial.params))
        except BuildError as exc:
            return "FAIL", None, f"cannot build: {exc}"[:300], None
        reporter = None if search.folds else _reporter_class()(trial, search.objective)
        # experiment trackers listening to the search report the trial's epochs
        tracking = [cb for listener in search.listeners
                    if hasattr(listener, "trial_callbacks")
                    for cb in listener.trial_callbacks(str(trial.number))]
        try:
            scores = train_trial(search, trial_plan, callbacks=[*([reporter] if reporter
                                                                  else []), *tracking],
                                 fold_done=lambda fold, score: _judge_fold(trial, fold, score))
        except BuildError as exc:
            return "FAIL", None, f"cannot build: {exc}"[:300], None
        except TrialFailed as exc:
            return "FAIL", None, str(exc), None
        except Exception as exc:  # a trial that crashes is failed; the search goes on
            return "FAIL", None, f"{type(exc).__name__}: {exc}"[:300], None
        trial.set_user_attr("fold_scores", scores.scores)
        if scores.stopped:
            trial.set_user_attr("stopped", scores.stopped)
            trial.set_user_attr("partial_score", scores.score)
            return "STOPPED", scores.score, scores.stopped, None
        if reporter is not None and reporter.pruned:
            values = scores.history.history.get(search.objective, [])
            return "PRUNED", values[-1] if values else None, \
                f"pruned at epoch {len(values)}", None
        if scores.pruned:
            return "PRUNED", scores.score, scores.pruned, None
        if scores.score is None:
            return "FAIL", None, f"the objective {search.objective} was never finite", None
        return "COMPLETE", scores.score, "", scores.epochs

    def _progress(self, number: int, state: str, value: float | None, budget: int) -> str:
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False)
        done = [t for t in trials if t.state.is_finished()]
        running = sum(1 for t in trials if t.state == TrialState.RUNNING)
        best = [t.value for t in done if t.state == TrialState.COMPLETE]
        pick = max if self.search.direction == "max" else min
        best_text = f"{pick(best):.4f}" if best else "-"
        score = {"COMPLETE": f"{value:.4f}" if value is not None else "-",
                 "PRUNED": "pruned", "FAIL": "failed", "STOPPED": "stopped"}[state]
        elapsed = time.time() - self.started
        seconds = [t.user_attrs.get("seconds") for t in done if t.user_attrs.get("seconds")]
        left = budget - len(done)
        eta = (sum(seconds) / len(seconds)) * left / max(1, running + 1) if seconds else 0.0
        return (f"trial {len(done)}/{budget}  #{number} {score}  best {best_text}  "
                f"elapsed {_clock(elapsed)}  eta {_clock(eta)}  [{studies.worker_name()}]")

    def collect(self) -> TuneResult:
        study, search = self.study, self.search
        rows = []
        for t in sorted(study.get_trials(deepcopy=False), key=lambda t: t.number):
            if t.state.name == "WAITING":
                continue  # never started: the time budget ran out first
            rows.append(_row(t, search.options.cv))
        completed = [t for t in study.get_trials(deepcopy=False)
                     if t.state.name == "COMPLETE"]
        if not completed:
            reasons = "; ".join(sorted({r["reason"] for r in rows if r["reason"]})) or "unknown"
            what = ("No trial finished within the time budget" if search.clock.expired()
                    else "Every trial failed or was pruned")
            raise KerakitError(f"{what}; no best declaration. Reasons: {reasons}")
        best = study.best_trial
        return search.finish(self.directory, rows, dict(best.params), best.value,
                             best.user_attrs.get("best_epoch"))


def _row(t: Any, cv: int | None) -> dict[str, Any]:
    """A trial's ``trials.csv`` row; a trial the time budget stopped is ``STOPPED``."""
    from kerakit.tuning import cv_columns

    attrs = t.user_attrs
    stopped = bool(attrs.get("stopped"))
    return {"trial": t.number,
            "status": "STOPPED" if stopped else STATUS.get(t.state.name, t.state.name),
            "score": attrs.get("partial_score") if stopped else t.value,
            **cv_columns(attrs, cv), "seconds": attrs.get("seconds"),
            "worker": attrs.get("worker"), "reason": attrs.get("reason", ""), **t.params}


def _reporter_class() -> type:
    import keras

    class Reporter(keras.callbacks.Callback):
        def __init__(self, trial: Any, objective: str) -> None:
            super().__init__()
            self.trial, self.objective, self.pruned = trial, objective, False

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            value = (logs or {}).get(self.objective)
            if value is None or not math.isfinite(value):
                return
            self.trial.report(float(value), epoch)
            if self.trial.should_prune():
                self.pruned = True
                self.model.stop_training = True

    return Reporter


def _judge_fold(trial: Any, fold: int, score: float) -> str:
    """Report a fold's score at the fold's index; the pruner's reason to stop, or ``""``."""
    trial.report(score, fold)
    return f"pruned after fold {fold + 1}" if trial.should_prune() else ""


def _optuna_direction(search: Search) -> str:
    return "maximize" if search.direction == "max" else "minimize"


def _fingerprint(search: Search) -> str:
    return hashlib.sha256(search.decl.to_json().encode()).hexdigest()[:16]


def default_pruner(search: Search) -> str:
    """Optuna's own pairings: Wilcoxon for folds, Hyperband for TPE, median for the rest.

    Example:
        >>> default_pruner(search)  # doctest: +SKIP
        'wilcoxon'
    """
    if search.options.cv:
        return "wilcoxon"
    return "hyperband" if search.options.tuner == "bayesian" else "median"


def _pruner(pruner: Any, search: Search, budget: int) -> Any:
    """The pruner; its steps are epochs, or folds with ``cv``."""
    import optuna

    if pruner is None:
        pruner = default_pruner(search)
    if not isinstance(pruner, str):
        return pruner
    if pruner == "none":
        return optuna.pruners.NopPruner()
    if pruner == "wilcoxon":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # a fold is paired with the same fold of the best trial; the signed-rank test
            # can reach p < 0.1 from four folds on
            return optuna.pruners.WilcoxonPruner(p_threshold=0.1, n_startup_steps=2)
    steps = search.options.cv or search.options.max_epochs or int(
        search.default.declaration.epochs)
    if pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=steps,
                                              reduction_factor=3)
    # A network's validation score in its first epochs says little about where it
    # ends (batch normalisation's statistics are still settling), and judging every
    # epoch against the survivors' median prunes nearly every trial at a small
    # budget: judge after a quarter of the epochs, then once a quarter. A fold's
    # score is final, so folds are judged from the second on.
    quarter = 1 if search.options.cv else max(1, steps // 4)
    if pruner == "sha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=quarter,
                                                      reduction_factor=3)
    return optuna.pruners.MedianPruner(n_startup_trials=max(1, min(5, budget // 5)),
                                       n_warmup_steps=quarter, interval_steps=quarter)


def _grid_points(search: Search, budget: int) -> list[dict[str, Any]]:
    """``budget`` points of the grid, in an order fixed by the seed.

    Optuna's ``GridSampler`` refuses trials enqueued without their values, and
    the budget is enqueued before any trial runs; so the grid's points are
    enqueued themselves, as ``GridSampler`` would visit them: in random order.
    """
    import itertools
    import random

    space = {name: grid_values(p) for name, p in search.decl.hyperparameters().items()}
    points = [dict(zip(space, values, strict=True))
              for values in itertools.product(*space.values())]
    random.Random(int(search.decl.seed or 0)).shuffle(points)
    return points[:budget]


def _sampler(search: Search, budget: int, joined: bool) -> Any:
    import optuna

    seed = int(search.decl.seed or 0)
    if joined:  # a process joining a study must not replay the creator's draws
        seed = (seed * 1_000_003 + os.getpid()) % 2**31
    tuner = search.options.tuner
    if tuner == "bayesian":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=min(10, max(3, budget // 4)), multivariate=True,
                group=True, constant_liar=True)
    # a grid's trials hold their values from the start (see _grid_points): nothing to draw
    return optuna.samplers.RandomSampler(seed=seed)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
