"""The KerasTuner adapter: a declaration as a HyperModel, a reporting tuner, and the
two guarded fixes to KerasTuner applied while a search runs.

KerasTuner's private attributes are touched in one place only,
:func:`patched_keras_tuner`; ``tests/test_upstream.py`` fails loudly if they move.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerakit.engine.plan import Plan
from kerakit.errors import KerakitError
from kerakit.fileops import write_atomic
from kerakit.tuning.search_space import TunerSampler
from kerakit.tuning.trial import TrialFailed, TrialScores, cv_columns, train_trial

if TYPE_CHECKING:
    from kerakit.tuning.checked_search import Search

PROJECT = "search"
TRIAL_FILE = "kerakit_trial.json"


def hypermodel_class() -> type:
    """The KerasTuner ``HyperModel`` class that trains a search's trials.

    Long because it holds the subclass's body: the class is made here, not at
    module level, so that KerasTuner is imported only when a search runs.
    """
    import keras
    import keras_tuner as kt

    class DeclarationHyperModel(kt.HyperModel):
        """A declaration as a KerasTuner HyperModel: one plan per trial.

        KerasTuner calls ``build(hp)`` then ``fit(hp, model)`` with the same
        ``hp``; the plan made in ``build`` is kept for that ``fit``. With
        ``cv``, ``fit`` trains one model per fold and returns their mean score.
        """

        def __init__(self, search: Search) -> None:
            super().__init__(name=search.decl.name)
            self.search = search
            self._trial: tuple[Any, Plan] | None = None
            self.tracking_callbacks: list[Any] = []  # the trial's, set by the tuner
            self.trained: Any = None
            self.scores: TrialScores | None = None  # the last trial's, read by the tuner

        def plan_for(self, hp: Any) -> Plan:
            if self._trial is None or self._trial[0] is not hp:
                self._trial = (hp, self.search.trial_plan(TunerSampler(hp)))
            return self._trial[1]

        def build(self, hp: Any) -> Any:
            try:
                # the plan re-applies the seed: KerasTuner cleared the session before the trial
                return self.plan_for(hp).build(adapt_data=self.search.dataset.x_train)
            except KerakitError as exc:
                raise kt.errors.FailedTrialError(f"cannot build: {exc}") from exc

        def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            trial_plan = self.plan_for(hp)
            if self.search.folds:
                return self._fit_folds(trial_plan, kwargs.get("callbacks", []))
            kwargs.pop("verbose", None)
            epochs = kwargs.pop("epochs", None) or int(trial_plan.declaration.epochs)
            if self.search.options.max_epochs:
                epochs = min(epochs, self.search.options.max_epochs)
            stop = self.search.clock.callback()
            callbacks = [*kwargs.pop("callbacks", []), *trial_plan.callbacks(run_dir=None),
                         keras.callbacks.TerminateOnNaN(), stop, *self.tracking_callbacks]
            history = model.fit(**trial_plan.fit_inputs(self.search.dataset, model=model),
                                epochs=epochs, callbacks=callbacks, verbose=0, **kwargs)
            losses = history.history.get("loss", [])
            if not losses or not all(math.isfinite(v) for v in losses):
                raise kt.errors.FailedTrialError("the loss became NaN or infinite")
            self.trained = model
            if stop.stopped_at is not None:
                self.scores = _partial(history.history.get(self.search.objective, []),
                                       self.search.direction, stop.stopped_at)
            return history

        def _fit_folds(self, trial_plan: Plan, callbacks: list[Any]) -> float:
            try:
                scores = train_trial(self.search, trial_plan,
                                     callbacks=[*callbacks, *self.tracking_callbacks])
            except TrialFailed as exc:
                raise kt.errors.FailedTrialError(str(exc)) from exc
            self.scores, self.trained = scores, scores.model
            if scores.score is None:
                raise kt.errors.FailedTrialError(scores.stopped or "no fold was scored")
            return scores.score

    return DeclarationHyperModel


def tuner_class(name: str) -> type:
    """KerasTuner's tuner ``name`` with progress lines, timing records and trial events.

    Long because it holds the subclass's body: the class is made here, not at
    module level, so that KerasTuner is imported only when a search runs.
    """
    import keras_tuner as kt

    base = {"random": kt.RandomSearch, "bayesian": kt.BayesianOptimization,
            "hyperband": kt.Hyperband, "grid": kt.GridSearch}[name]

    class ReportingTuner(base):  # type: ignore[misc, valid-type]
        """KerasTuner's tuner plus timing records and one progress line per trial."""

        total: int | None = None
        started: float = 0.0
        events: Any = None  # the Search: told of each trial's start and end
        verbose: int = 1  # 0: no progress line per trial

        def reload(self) -> None:
            super().reload()
            oracle = self.oracle
            if not hasattr(oracle, "_retry_queue"):
                return  # a worker's client: the chief's oracle keeps the trials
            # A process killed between a new trial's own file and the oracle's
            # file leaves the trial RUNNING but unknown to the oracle's queues:
            # it would count towards max_trials and never run. Run it again.
            queued = set(oracle._retry_queue) | {t.trial_id
                                                 for t in oracle.ongoing_trials.values()}
            for trial_id in oracle.start_order + sorted(set(oracle.trials)
                                                        - set(oracle.start_order)):
                trial = oracle.trials[trial_id]
                if trial.status == "RUNNING" and trial_id not in queued:
                    oracle._retry_queue.append(trial_id)
                    queued.add(trial_id)

        def on_search_begin(self) -> None:
            super().on_search_begin()
            self.started = time.time()
            self.done_here = 0

        def on_trial_begin(self, trial: Any) -> None:
            super().on_trial_begin(trial)
            self.trial_started = time.time()
            if self.events is not None:
                self.events.trial_started(trial.trial_id, dict(trial.hyperparameters.values))
            # experiment trackers listening to the search get the trial's epochs and model
            self.hypermodel.trained, self.hypermodel.scores = None, None
            self.hypermodel.tracking_callbacks = [
                cb for listener in getattr(self.events, "listeners", ())
                if hasattr(listener, "trial_callbacks")
                for cb in listener.trial_callbacks(trial.trial_id)]

        def on_trial_end(self, trial: Any) -> None:
            scores = self.hypermodel.scores
            if scores is not None and scores.stopped and trial.status == "COMPLETED":
                trial.status = "STOPPED"  # scored on less than it asked for: not a candidate
            super().on_trial_end(trial)
            record = {"seconds": round(time.time() - self.trial_started, 2),
                      "worker": os.environ.get("KERASTUNER_TUNER_ID", "local"),
                      "reason": (scores.stopped if scores is not None and scores.stopped
                                 else _reason(trial.message)),
                      **(scores.record() if scores is not None else {}),
                      "partial_score": scores.score if scores is not None else None}
            write_json(Path(self.get_trial_dir(trial.trial_id)) / TRIAL_FILE, record)
            self.done_here += 1
            if self.verbose:
                print(self._progress_line(trial), flush=True)
            trained, self.hypermodel.trained = self.hypermodel.trained, None
            for listener in getattr(self.events, "listeners", ()):
                if trained is not None and hasattr(listener, "trial_model"):
                    listener.trial_model(trial.trial_id, trained,
                                         Path(self.get_trial_dir(trial.trial_id)))
            if self.events is not None:
                score = self.oracle.get_trial(trial.trial_id).score
                self.events.trial_finished(
                    {"trial": trial.trial_id, "status": trial.status,
                     "score": score if score is not None else record["partial_score"],
                     **cv_columns(record, self.events.options.cv),
                     **{k: record[k] for k in ("seconds", "worker", "reason")},
                     **trial.hyperparameters.values})

        def _progress_line(self, trial: Any) -> str:
            finished = [t for t in self.oracle.trials.values()
                        if t.status in ("COMPLETED", "FAILED", "INVALID", "STOPPED")] \
                if hasattr(self.oracle, "trials") else []
            count = max(len(finished), self.done_here)
            elapsed = time.time() - self.started
            total = f"/{self.total}" if self.total else ""
            trial = self.oracle.get_trial(trial.trial_id)  # a worker's copy lacks the score
            score = f"{trial.score:.4f}" if trial.score is not None else trial.status.lower()
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


def trial_record(directory: Path, trial_id: str) -> dict[str, Any]:
    """kerakit's record of a trial: seconds, worker, reason, fold scores and epochs."""
    path = directory / PROJECT / f"trial_{trial_id}" / TRIAL_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def trial_rows(loaded: Any, directory: Path, cv: int | None = None) -> list[dict[str, Any]]:
    """One row per trial, in trial order, with kerakit's records (and folds with ``cv``)."""
    rows = []
    for trial in sorted(loaded.oracle.trials.values(), key=lambda t: t.trial_id):
        record = trial_record(directory, trial.trial_id)
        values = {k: v for k, v in trial.hyperparameters.values.items()
                  if not k.startswith("tuner/")}
        score = trial.score if trial.score is not None else record.get("partial_score")
        rows.append({"trial": trial.trial_id, "status": trial.status, "score": score,
                     **cv_columns(record, cv),
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
    # keras-tuner has no public hook for either; both names are pinned by
    # pyproject (keras-tuner>=1.4.7,<1.5) and checked by tests/test_upstream.py.
    from keras_tuner.src import utils
    from keras_tuner.src.engine import conditions

    # Upstream: utils.save_json opens the target with "w" and writes into it;
    # Stateful.save (oracle.json, every trial.json) goes through it.
    original = utils.save_json

    def save_json(path: str, obj: Any) -> str:
        text = json.dumps(obj)
        write_atomic(path, text)
        return text

    utils.save_json = save_json
    # Upstream: conditions.Parent.to_proto starts with ``print(self.values[0])``;
    # a module-level ``print`` shadows the builtin for that module only.
    conditions.print = lambda *args, **kwargs: None
    try:
        yield
    finally:
        utils.save_json = original
        del conditions.print


def _partial(values: list[float], direction: str, stopped_at: int) -> TrialScores:
    """A trial the time budget stopped: its best epoch so far, kept as a partial score."""
    scores = TrialScores(stopped=f"time budget spent at epoch {stopped_at}")
    finite = [(v, i) for i, v in enumerate(values) if math.isfinite(v)]
    if finite:
        value, index = (max if direction == "max" else min)(finite)
        scores.scores, scores.best_epochs = [float(value)], [index + 1]
    return scores


def _reason(message: str | None) -> str:
    if not message:
        return ""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, default=str))
