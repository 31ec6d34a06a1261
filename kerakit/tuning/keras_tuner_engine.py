"""The built-in tuner engine, KerasTuner, registered as a default plugin.

Discovery loads this module beside :mod:`kerakit.builtins.plugin`, as part of
the built-in plugin ``kerakit``, so the default engine goes through the same
``kerakit_tuner_engines`` hook as a plugin's. Its own tuners are KerasTuner's
random, Bayesian, Hyperband and grid search; with ``workers=N`` it runs
KerasTuner's chief and N workers on this machine. KerasTuner is imported only
when a search runs.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerakit.errors import KerakitError, UsageError
from kerakit.hookspecs import Register, hookimpl
from kerakit.tuning.contract import TunerEngine

if TYPE_CHECKING:
    from kerakit.tuning.checked_search import Search
    from kerakit.tuning.result import TuneResult

#: The built-in engine's name, and the default of ``engine=``.
DEFAULT_ENGINE = "keras_tuner"


class KerasTunerEngine(TunerEngine):
    """KerasTuner: random, bayesian, hyperband or grid search, here or with local workers."""

    name = DEFAULT_ENGINE
    tuners = ("random", "bayesian", "hyperband", "grid")
    supports_workers = True

    def check_options(self, options: Any, engine_options: Any) -> None:
        """Refuse ``cv`` with Hyperband, which carries a model over from an earlier bracket.

        Raises:
            UsageError: for ``cv`` with ``tuner="hyperband"``.
        """
        if options.cv and options.tuner == "hyperband":
            raise UsageError("Invalid value for argument `cv` with tuner='hyperband'. Expected "
                             "None: Hyperband resumes a trial's model from an earlier bracket, "
                             "which has no fold. Use random or bayesian with cv. "
                             f"Received: cv={options.cv!r}")

    def search(self, search: Search, directory: Path, *, overwrite: bool,
               workers: int | None, **options: Any) -> TuneResult:
        """Run KerasTuner's search (resuming unless ``overwrite``), then collect the outputs.

        Example:
            >>> engine = KerasTunerEngine()
            >>> engine.search(search, Path("t"), overwrite=False, workers=None)  # doctest: +SKIP

        Args:
            search: The checked search.
            directory: The tuning directory.
            overwrite: Start afresh instead of resuming.
            workers: Local worker processes (a chief serves them), or ``None``.
            **options: None are taken.

        Returns:
            The :class:`~kerakit.tuning.TuneResult`.
        """
        from kerakit.tuning.adapter import patched_keras_tuner

        if workers:
            from kerakit.tuning.distributed import run_search_workers

            run_search_workers(search, directory, workers, overwrite=overwrite)
        else:
            with patched_keras_tuner():
                make_tuner(search, directory, overwrite).search(verbose=0)
        return collect(search, directory)


def make_tuner(search: Search, directory: Path, overwrite: bool) -> Any:
    """The KerasTuner tuner for ``search`` (resuming from ``directory`` unless ``overwrite``).

    Example:
        >>> make_tuner(search, Path("t"), overwrite=False).search(verbose=0)  # doctest: +SKIP

    Args:
        search: The checked search; ``search.options.tuner`` names the tuner.
        directory: The tuning directory.
        overwrite: Start afresh.

    Returns:
        A KerasTuner tuner that reports each trial to ``search``.
    """
    import keras_tuner as kt

    from kerakit.tuning.adapter import PROJECT, hypermodel_class, tuner_class

    o = search.options
    hypermodel = hypermodel_class()(search)
    common = {"objective": kt.Objective(search.objective, search.direction),
              "seed": int(search.decl.seed or 0), "directory": str(directory),
              "project_name": PROJECT, "overwrite": overwrite,
              "max_consecutive_failed_trials": o.max_consecutive_failed_trials}
    cls = tuner_class(o.tuner or KerasTunerEngine.tuners[0])
    if o.tuner == "hyperband":
        epochs = o.max_epochs or min(int(search.default.declaration.epochs), 30)
        instance = cls(hypermodel, max_epochs=epochs, factor=3, **common)
    else:
        instance = cls(hypermodel, max_trials=o.max_trials, **common)
        instance.total = o.max_trials
    instance.events = search
    instance.verbose = o.verbose
    _no_trial_after_budget(instance.oracle, search)
    return instance


def _no_trial_after_budget(oracle: Any, search: Search) -> None:
    """Make the oracle (or a worker's client of it) stop the search once the budget is spent."""
    import keras_tuner as kt

    create_trial = oracle.create_trial

    def budgeted(tuner_id: str) -> Any:
        if search.clock.expired():  # the search loop ends on a stopped trial
            return kt.engine.trial.Trial(kt.HyperParameters(),
                                         status=kt.engine.trial.TrialStatus.STOPPED)
        return create_trial(tuner_id)

    oracle.create_trial = budgeted


def collect(search: Search, directory: Path) -> TuneResult:
    """Read a finished KerasTuner search from its directory, write the outputs, return them.

    Example:
        >>> collect(search, Path("tuning/x")).best_score  # doctest: +SKIP

    Args:
        search: The checked search.
        directory: The tuning directory the search ran in.

    Returns:
        The :class:`~kerakit.tuning.TuneResult`.

    Raises:
        KerakitError: if every trial failed.
    """
    from kerakit.tuning.adapter import trial_record, trial_rows
    from kerakit.tuning.trial import TrialScores

    with contextlib.redirect_stdout(io.StringIO()):  # KerasTuner announces the reload
        loaded = make_tuner(search, directory, overwrite=False)
    trials = trial_rows(loaded, directory, search.options.cv)
    completed = [t for t in loaded.oracle.trials.values() if t.status == "COMPLETED"]
    if not completed:
        reasons = "; ".join(sorted({r["reason"] for r in trials if r["reason"]})) or "unknown"
        if search.clock.expired():
            raise KerakitError("No trial finished within the time budget; no best "
                               f"declaration. Reasons: {reasons}")
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
    if search.options.cv:  # the median of the folds' best epochs, as kk.fit(cv=K) retrains
        folds = trial_record(directory, best_trial.trial_id).get("best_epochs")
        epochs = TrialScores(best_epochs=folds).epochs or epochs
    return search.finish(directory, trials, values, best_trial.score, epochs, best_model)


@hookimpl
def kerakit_tuner_engines(register: Register) -> None:
    """The default engine, registered as any plugin's would be."""
    register(DEFAULT_ENGINE, KerasTunerEngine,
             summary="KerasTuner: random, bayesian, hyperband, grid")
