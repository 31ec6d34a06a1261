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

PRUNERS = ("median", "hyperband", "none")
STATUS = {"COMPLETE": "COMPLETED", "PRUNED": "PRUNED", "FAIL": "FAILED",
          "RUNNING": "RUNNING", "WAITING": "WAITING"}


class OptunaEngine(TunerEngine):
    """Optuna: the study lives in shared storage and any number of processes join it.

    Options:
        storage: An SQLAlchemy URL (``sqlite:///study.db``,
            ``postgresql://...``) or ``journal:PATH``; defaults to
            ``sqlite:///<directory>/optuna.db``.
        study: The study's name; defaults to the declaration's name.
        pruner: ``"median"`` (default), ``"hyperband"``, ``"none"``, or an
            ``optuna.pruners.BasePruner``.
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
                            help="stop unpromising trials from per-epoch reports "
                            "(default median)")

    def check_request(self, tuner: str, workers: int | None, options: dict[str, Any]) -> None:
        """Refuse a tuner, option, pruner name or heartbeat this engine does not take.

        Raises:
            UsageError: naming what was expected and what was received.
        """
        super().check_request(tuner, workers, options)
        pruner = options.get("pruner", "median")
        if isinstance(pruner, str) and pruner not in PRUNERS:
            raise UsageError(f"Invalid value for argument `pruner`. Expected one of: "
                             f"{', '.join(PRUNERS)}. Received: pruner={pruner!r}")
        beat = options.get("heartbeat", 10)
        if isinstance(beat, bool) or not isinstance(beat, (int, float)) or beat <= 0:
            raise UsageError("Invalid value for argument `heartbeat`. Expected seconds > 0. "
                             f"Received: heartbeat={beat!r}")

    def search(self, search: Search, directory: Path, *, overwrite: bool, workers: int | None,
               storage: str | None = None, study: str | None = None, pruner: Any = "median",
               heartbeat: float = 10) -> TuneResult:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        directory.mkdir(parents=True, exist_ok=True)
        url = storage or f"sqlite:///{(directory / 'optuna.db').resolve()}"
        name = study or search.decl.name
        budget = self._budget(search)
        loop = _Loop(search, directory, heartbeat)
        loop.study = studies.join_study(
            studies.open_storage(url), name, direction=_optuna_direction(search),
            sampler_for=lambda joined: _sampler(search, budget, joined),
            pruner=_pruner(pruner, search, budget), budget=budget,
            fingerprint=_fingerprint(search), objective=search.objective, overwrite=overwrite)
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
            trial_id = studies.pop_trial(self.study)
            if trial_id is not None:
                self._run_trial(trial_id, budget)
                continue
            if not self.study.get_trials(deepcopy=False,
                                         states=(TrialState.RUNNING, TrialState.WAITING)):
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
            self.study.tell(trial, value if state == "COMPLETE" else None,
                            state=getattr(optuna.trial.TrialState, state))
        except (optuna.exceptions.UpdateFinishedTrialError, ValueError):
            reason = "failed by another process (no heartbeat)"  # we were presumed dead
        self.done_here += 1
        if self.search.options.verbose:
            print(self._progress(trial.number, state, value, budget), flush=True)
        self.search.trial_finished({"trial": trial.number, "status": STATUS[state],
                                    "score": value, "reason": reason,
                                    "worker": studies.worker_name(), **trial.params})

    def _train(self, trial: Any) -> tuple[str, float | None, str, int | None]:
        """Train one trial: ``(state, score, reason, best epoch)``."""
        import keras

        from kerakit.errors import KerakitError as BuildError

        search = self.search
        keras.backend.clear_session()  # as KerasTuner does before each trial
        try:
            trial_plan = search.trial_plan(OptunaSampler(trial))
            search.trial_started(str(trial.number), dict(trial.params))
            model = trial_plan.build(adapt_data=search.dataset.x_train)
        except BuildError as exc:
            return "FAIL", None, f"cannot build: {exc}"[:300], None
        epochs = int(trial_plan.declaration.epochs)
        if search.options.max_epochs:
            epochs = min(epochs, search.options.max_epochs)
        reporter = _reporter_class()(trial, search.objective)
        # experiment trackers listening to the search report the trial's epochs
        tracking = [cb for listener in search.listeners
                    if hasattr(listener, "trial_callbacks")
                    for cb in listener.trial_callbacks(str(trial.number))]
        callbacks = [*trial_plan.callbacks(run_dir=None), keras.callbacks.TerminateOnNaN(),
                     reporter, *tracking]
        try:
            history = model.fit(**trial_plan.fit_inputs(search.dataset, model=model),
                                epochs=epochs, callbacks=callbacks, verbose=0)
        except Exception as exc:  # a trial that crashes is failed; the search goes on
            return "FAIL", None, f"{type(exc).__name__}: {exc}"[:300], None
        losses = history.history.get("loss", [])
        if not losses or not all(math.isfinite(v) for v in losses):
            return "FAIL", None, "the loss became NaN or infinite", None
        scores = history.history.get(search.objective, [])
        if reporter.pruned:
            return "PRUNED", scores[-1] if scores else None, \
                f"pruned at epoch {len(scores)}", None
        if not scores:
            return "FAIL", None, f"the objective {search.objective} was not logged", None
        pick = max if search.direction == "max" else min
        best = pick(range(len(scores)), key=lambda i: scores[i])
        return "COMPLETE", float(scores[best]), "", best + 1

    def _progress(self, number: int, state: str, value: float | None, budget: int) -> str:
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False)
        done = [t for t in trials if t.state.is_finished()]
        running = sum(1 for t in trials if t.state == TrialState.RUNNING)
        best = [t.value for t in done if t.state == TrialState.COMPLETE]
        pick = max if self.search.direction == "max" else min
        best_text = f"{pick(best):.4f}" if best else "-"
        score = {"COMPLETE": f"{value:.4f}" if value is not None else "-",
                 "PRUNED": "pruned", "FAIL": "failed"}[state]
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
            rows.append({"trial": t.number, "status": STATUS.get(t.state.name, t.state.name),
                         "score": t.value, "seconds": t.user_attrs.get("seconds"),
                         "worker": t.user_attrs.get("worker"),
                         "reason": t.user_attrs.get("reason", ""), **t.params})
        completed = [t for t in study.get_trials(deepcopy=False)
                     if t.state.name == "COMPLETE"]
        if not completed:
            reasons = "; ".join(sorted({r["reason"] for r in rows if r["reason"]})) or "unknown"
            raise KerakitError(f"Every trial failed or was pruned; no best declaration. "
                               f"Reasons: {reasons}")
        best = study.best_trial
        return search.finish(self.directory, rows, dict(best.params), best.value,
                             best.user_attrs.get("best_epoch"))


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


def _optuna_direction(search: Search) -> str:
    return "maximize" if search.direction == "max" else "minimize"


def _fingerprint(search: Search) -> str:
    return hashlib.sha256(search.decl.to_json().encode()).hexdigest()[:16]


def _pruner(pruner: Any, search: Search, budget: int) -> Any:
    import optuna

    if not isinstance(pruner, str):
        return pruner
    if pruner == "none":
        return optuna.pruners.NopPruner()
    epochs = search.options.max_epochs or int(search.default.declaration.epochs)
    if pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs,
                                              reduction_factor=3)
    # A network's validation score in its first epochs says little about where it
    # ends (batch normalisation's statistics are still settling), and judging every
    # epoch against the survivors' median prunes nearly every trial at a small
    # budget: judge after a quarter of the epochs, then once a quarter.
    quarter = max(1, epochs // 4)
    return optuna.pruners.MedianPruner(n_startup_trials=max(1, min(5, budget // 5)),
                                       n_warmup_steps=quarter, interval_steps=quarter)


def _sampler(search: Search, budget: int, joined: bool) -> Any:
    import optuna

    seed = int(search.decl.seed or 0)
    if joined:  # a process joining a study must not replay the creator's draws
        seed = (seed * 1_000_003 + os.getpid()) % 2**31
    tuner = search.options.tuner
    if tuner == "grid":
        space = {name: grid_values(p) for name, p in search.decl.hyperparameters().items()}
        return optuna.samplers.GridSampler(space, seed=seed)
    if tuner == "bayesian":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=min(10, max(3, budget // 4)), multivariate=True,
                group=True, constant_liar=True)
    return optuna.samplers.RandomSampler(seed=seed)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
