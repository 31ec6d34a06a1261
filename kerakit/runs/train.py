"""Training: ``fit()`` on a plan, test evaluation and the run records.

The run directory is written through :mod:`kerakit.runs.rundir`: beside its
target until complete, resumable after a crash.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kerakit.data import Dataset, Streams
from kerakit.declaration.model import Model, Sampler
from kerakit.engine import inputs
from kerakit.engine.inputs import one_hot
from kerakit.engine.plan import Plan
from kerakit.engine.preparation import prepare
from kerakit.runs.backup import TrainingBackup
from kerakit.runs.crossval import CrossValidation, cross_validate, final_dataset, make_folds
from kerakit.runs.keep_best import KeepBest, monitor_of
from kerakit.runs.locks import hold_lock
from kerakit.runs.rundir import (
    RUN_LAYOUT,
    check_target,
    default_run_dir,
    discard_partial,
    partial_dir,
    prepare_partial,
    replace,
)
from kerakit.runs.tracking import Tracking, finish_training, start_training, tracker_names
from kerakit.sources.source import as_source


@dataclass
class Run:
    """The outcome of :func:`fit`.

    Attributes:
        model: The trained ``keras.Model`` (best weights when early stopping restored them).
        history: Per-epoch values, e.g. ``history["val_loss"]``.
        metrics: Test metrics, e.g. ``{"loss": 0.05, "accuracy": 0.99}``.
        dir: The run directory.
        declaration: The concrete declaration that was trained.
        best_epoch: 0-based epoch with the best validation loss.
        epochs_run: How many epochs ran.
        diverged_epoch: 0-based epoch where overfitting began, if it did.
        report: Classification report and confusion matrix, for classifiers;
            the test residuals, for regressors.
        replicas: Devices the model was replicated over (1 unless distributed).
        plan: The plan that was trained.
        resumed_at_epoch: 0-based epoch where training resumed from a crashed
            run's backup (the epochs before it were restored), else ``None``.
        seconds: Wall time of training and evaluation.
        tracking: The run's trackers and its record with them, for
            :func:`kerakit.runs.tracking.log_export`.
        cv: The folds' results, for a cross-validated run (``fit(cv=K)``).
        kept: Whether the model holds the best epoch's weights (``best_epoch``).
    """

    model: Any
    history: dict[str, list[float]]
    metrics: dict[str, float]
    dir: Path
    declaration: Model
    best_epoch: int | None = None
    epochs_run: int = 0
    diverged_epoch: int | None = None
    report: dict[str, Any] = field(default_factory=dict)
    replicas: int = 1
    plan: Plan | None = field(default=None, repr=False)
    resumed_at_epoch: int | None = None
    seconds: float | None = None
    tracking: Any = field(default=None, repr=False)
    cv: CrossValidation | None = None
    kept: bool = False

    def summary(self) -> str:
        """A few lines for people: test metrics, best epoch, where the outputs are."""
        metrics = ", ".join(f"{k}={v:.4f}" for k, v in self.metrics.items())
        lines = [self.cv.summary()] if self.cv is not None else []
        lines.append(f"test: {metrics}")
        if self.cv is not None:
            lines.append(f"final model: all training rows, {self.epochs_run} epochs "
                         "(the folds' median best)")
        elif self.best_epoch is not None:
            lines.append(f"best epoch: {self.best_epoch + 1} of {self.epochs_run} run"
                         f"{' (kept)' if self.kept else ''}")
        if self.diverged_epoch is not None:
            lines.append(f"overfitting: validation loss rose from epoch {self.diverged_epoch + 1}")
        if self.resumed_at_epoch is not None:
            lines.append(f"resumed at epoch {self.resumed_at_epoch + 1} from a crashed run")
        lines.append(f"outputs: {self.dir}")
        return "\n".join(lines)


def load_data(data: Any, decl: Model | Plan) -> Dataset | Streams:
    """Turn ``data`` into train / validation / test splits for a declaration.

    See :class:`kerakit.sources.source.Source` for the forms ``data`` takes.

    Example:
        >>> import kerakit as kk
        >>> decl = kk.Model((8, 8, 1), ["flatten"], kk.use("classifier", classes=10))
        >>> kk.load_data("digits", decl).x_train.shape[1:]
        (8, 8, 1)
    """
    return prepare(data, decl)[1]


def fit(
    decl: Model | Plan,
    data: Any,
    *,
    target: str | Sequence[str] | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    sampler: Sampler | None = None,
    verbose: str | int = "auto",
    callbacks: Sequence[Any] = (),
    distribute: str | None = None,
    backup_every: float = 30.0,
    track: Sequence[str] = (),
    cv: int | None = None,
) -> Run:
    """Train a declaration with Keras ``fit()``, evaluate it on the test split, save a run.

    Long because its docstring documents every keyword; the body is short.

    Placeholders take their defaults unless ``sampler`` chooses them.
    Statistics-based preprocessors adapt on the training split only. With
    validation data, the run ends with the weights of its best validation
    epoch (``keep_best=False`` in the declaration keeps the last epoch's).

    Args:
        decl: The declaration, or a :class:`~kerakit.engine.plan.Plan`.
        data: See :class:`kerakit.sources.source.Source` (a source is read once,
            however often it is trained on).
        target: The target column(s), when ``data`` is a table file or DataFrame.
        epochs: Overrides the declaration's.
        batch_size: Overrides the declaration's.
        seed: Overrides the declaration's.
        out: Run directory; defaults to ``runs/<name>-<timestamp>``.
        overwrite: Replace an existing kerakit run at ``out``. Anything else
            there (a file, a folder of other things) is refused, never deleted.
        sampler: Chooses placeholder values.
        verbose: Passed to ``model.fit``.
        callbacks: Extra Keras callbacks, after the declared ones.
        distribute: ``"mirrored"`` trains data-parallel over every local GPU (or
            logical CPU device): ``tf.distribute.MirroredStrategy`` on
            TensorFlow, ``keras.distribution.DataParallel`` on JAX.
        backup_every: Seconds between backups of the training state; a crashed
            run resumes from the last one. 0 backs up every epoch.
        track: Experiment trackers to tell about the run, by name (``"mlflow"``),
            besides the declaration's and ``KERAKIT_TRACK``'s; see
            :mod:`kerakit.runs.tracking`. A failing tracker only warns.
        cv: Cross-validate on this many stratified folds of the training rows
            first (see :mod:`kerakit.runs.crossval`); the run's model is then
            trained on all training rows for the folds' median best epoch count.

    Returns:
        A :class:`Run`.

    Raises:
        DeclarationError: for unknown components or parameters, or a model that
            cannot be built; nothing is written.
        DataError: for data that does not fit the declaration, or pipelines
            with ``cv``; nothing is written.
        FileExistsError: if ``out`` holds a run and ``overwrite`` is false, or
            holds anything that is not a kerakit run.
        LockedError: if another process is writing the same run directory.

    Example:
        >>> import tempfile
        >>> import kerakit as kk
        >>> decl = kk.Model((4,), [kk.use("dense_block", units=16)],
        ...                 kk.use("classifier", classes=3), epochs=2)
        >>> run = fit(decl, "iris", out=tempfile.mkdtemp() + "/run", verbose=0)
        >>> sorted(run.metrics)
        ['accuracy', 'loss']
    """

    from kerakit.engine.scale import check_strategy

    check_strategy(distribute)
    # folds need rows: an image folder is loaded into memory to cross-validate
    the_plan, dataset = prepare(data, decl, sampler, target=target, epochs=epochs,
                                batch_size=batch_size, seed=seed, in_memory=cv is not None)
    concrete = the_plan.declaration
    folds = make_folds(the_plan, dataset, cv) if cv is not None else None
    targets = as_source(data, target).target  # however the target was given

    target = Path(out) if out is not None else default_run_dir(concrete.name)
    tracking = Tracking.open(tracker_names(track, concrete), the_plan.registry)
    with hold_lock(target, "run directory"):
        check_target(target, overwrite)
        tracked = start_training(tracking, the_plan, dataset, target, sampler)
        with tracking.running(tracked) as outcome:  # a crash ends the tracked run as failed
            started = time.time()
            result = None
            if folds is not None:
                result = cross_validate(the_plan, folds, fit_fold=fit_fold, verbose=verbose,
                                        callbacks=callbacks)
                dataset = final_dataset(dataset)
            partial = partial_dir(target)
            prepare_partial(partial, concrete)
            try:
                run = _train(the_plan, dataset, partial, target, distribute=distribute,
                             verbose=verbose, callbacks=[*callbacks, *tracking.callback(tracked)],
                             backup_every=backup_every,
                             epochs=result.final_epochs if result else None)
            except BaseException:
                discard_partial(partial)  # only while it holds nothing to resume from
                raise
            run.cv = result
            run.seconds = round(time.time() - started, 2)
            _write_run(run, partial, dataset, targets)
            replace(partial, target)
            finish_training(outcome, run)
    run.tracking = (tracking, tracked)
    return run


def _train(the_plan: Plan, dataset: Dataset | Streams, partial: Path, target: Path, *,
           distribute: str | None, verbose: str | int, callbacks: Sequence[Any],
           backup_every: float, epochs: int | None = None) -> Run:
    """``model.fit``, resumed from the partial directory's backup when there is one.

    With validation data the best epoch's weights are kept (:class:`KeepBest`);
    without it (a cross-validated run's final model), callbacks that judge
    the validation curve are left out.
    """
    from kerakit.engine.scale import distribution

    concrete = the_plan.declaration
    epochs = int(epochs or concrete.epochs)
    streaming = isinstance(dataset, Streams)
    validating = dataset.val is not None if streaming else len(dataset.x_val) > 0
    with distribution(distribute) as replicas:
        model = the_plan.build(adapt_data=dataset.features() if streaming else dataset.x_train)
        declared = [cb for cb in the_plan.callbacks(partial)
                    if validating or not _judges_curves(cb)]
        keep = KeepBest(monitor_of(declared)) if validating and concrete.keep_best else None
        backup = TrainingBackup(partial / RUN_LAYOUT.backup, interval=backup_every, keep_best=keep)
        resumed = backup.restore(model)
        backup.replay_to = [cb for cb in declared if _judges_curves(cb)]
        run_callbacks = [*declared, *([keep] if keep else []), backup, *callbacks]
        start = resumed.epoch if resumed else 0
        fitted: dict[str, list[float]] = {}
        if not (resumed and (resumed.stopped or start >= epochs)):
            fitted = model.fit(**the_plan.fit_inputs(dataset, replicas, model=model),
                               epochs=epochs, initial_epoch=start,
                               callbacks=run_callbacks, verbose=verbose).history
        if keep is not None and keep.best_weights is not None:
            model.set_weights(keep.best_weights)  # also when a resumed run had nothing left
        model = inputs.in_original_units(the_plan, model, dataset)
    # the restored epochs first, then those run now: every epoch once, in order
    restored = resumed.history if resumed else {}
    history = {k: [float(v) for v in [*restored.get(k, []), *vals]]
               for k, vals in (fitted or restored).items()}
    metrics, report = _evaluate(model, dataset, the_plan)
    kept = keep.best_epoch if keep is not None else None
    return Run(
        model=model, history=history, metrics=metrics, dir=target, declaration=concrete,
        best_epoch=kept if kept is not None else _best_epoch(history, run_callbacks),
        epochs_run=len(next(iter(history.values()), [])),
        diverged_epoch=_diverged(history, run_callbacks), report=report, replicas=replicas,
        plan=the_plan, resumed_at_epoch=start if resumed else None, kept=kept is not None,
    )


def fit_fold(the_plan: Plan, fold: Dataset, verbose: str | int,
             callbacks: Sequence[Any]) -> tuple[dict[str, float], int, int]:
    """Train one cross-validation fold's model, kept at its best validation epoch.

    Returns:
        ``(scores, best_epoch, epochs_run)``: the kept model's validation
        metrics in the targets' own units (``val_loss``, ``val_accuracy``, ...).
    """
    model = the_plan.build(adapt_data=fold.x_train)
    declared = the_plan.callbacks(None)
    keep = KeepBest(monitor_of(declared))
    history = model.fit(**the_plan.fit_inputs(fold, model=model),
                        epochs=int(the_plan.declaration.epochs),
                        callbacks=[*declared, keep, *callbacks], verbose=verbose).history
    if keep.best_weights is not None:
        model.set_weights(keep.best_weights)
    model = inputs.in_original_units(the_plan, model, fold)
    labels = inputs.one_hot(fold.y_val, fold) if the_plan.has_batch_augmentation else fold.y_val
    values = model.evaluate(inputs.model_x(fold.x_val), labels, verbose=0, return_dict=True,
                            batch_size=int(the_plan.declaration.batch_size))
    best = keep.best_epoch if keep.best_epoch is not None else len(history["loss"]) - 1
    return {f"val_{k}": float(v) for k, v in values.items()}, best, len(history["loss"])


def _judges_curves(callback: Any) -> bool:
    """Whether a callback decides from the whole curve so far (early stopping, overfitting)."""
    import keras

    return isinstance(callback, keras.callbacks.EarlyStopping) or hasattr(
        callback, "diverged_epoch")


def _evaluate(model: Any, data: Dataset | Streams,
              the_plan: Plan) -> tuple[dict[str, float], dict[str, Any]]:
    from kerakit.runs.report import classification_summary, regression_summary

    if isinstance(data, Streams):
        if data.test is None:
            return {}, {}
        # test sets are small enough to hold: one pass gives inputs and labels together
        pairs = [(np.asarray(x), np.asarray(y)) for x, y in data.test.as_numpy_iterator()]
        x_test = np.concatenate([p[0] for p in pairs])
        y_test = np.concatenate([p[1] for p in pairs])
    else:
        x_test, y_test = data.x_test, data.y_test
    if not len(x_test):
        return {}, {}
    x_test = inputs.model_x(x_test)
    batch = int(the_plan.declaration.batch_size)
    mixed = the_plan.has_batch_augmentation
    # a model trained on one-hot labels (batch-level augmentation) is evaluated on them too
    labels = one_hot(y_test, data) if isinstance(data, Dataset) and mixed else y_test
    values = model.evaluate(x_test, labels, batch_size=batch, verbose=0, return_dict=True)
    metrics = {k: float(v) for k, v in values.items()}
    report: dict[str, Any] = {}
    if data.task == "classification":
        probs = model.predict(x_test, batch_size=batch, verbose=0)
        report = classification_summary(y_test, probs, data.class_names)
    elif data.task == "regression":
        report = regression_summary(y_test, model.predict(x_test, batch_size=batch, verbose=0))
    return metrics, report


def _best_epoch(history: dict[str, list[float]], callbacks: list[Any]) -> int | None:
    from kerakit.curves import best_epoch

    for cb in callbacks:
        if getattr(cb, "restore_best_weights", False) and getattr(cb, "best_epoch", None):
            return int(cb.best_epoch)
    return best_epoch(history)


def _diverged(history: dict[str, list[float]], callbacks: list[Any]) -> int | None:
    from kerakit.curves import divergence_epoch

    for cb in callbacks:
        if getattr(cb, "diverged_epoch", None) is not None:
            return int(cb.diverged_epoch)
    return divergence_epoch(history)


def _write_run(run: Run, directory: Path, data: Dataset | Streams,
               targets: str | list[str] | None) -> None:
    from kerakit.engine.saving import save_model
    from kerakit.engine.tables import vocabulary_sizes
    from kerakit.runs.report import plot_curves, write_history_csv
    from kerakit.sources.facts import data_record

    columns = getattr(data, "columns", None)
    record = data_record(data, targets, vocabulary_sizes(run.model, columns) if columns else None)
    manifest = run.plan.manifest(data.name, data.class_names, data=record)
    save_model(run.model, directory / RUN_LAYOUT.model, manifest)
    (directory / RUN_LAYOUT.declaration).write_text(run.declaration.to_json())
    write_history_csv(run.history, directory / RUN_LAYOUT.history)
    stopped = run.epochs_run - 1 if run.epochs_run < int(run.declaration.epochs) else None
    metrics = {"test": run.metrics, "best_epoch": run.best_epoch, "epochs_run": run.epochs_run,
               "stopped_epoch": stopped, "diverged_epoch": run.diverged_epoch, "kept": run.kept,
               **run.report}
    if run.cv is not None:
        metrics["cv"] = run.cv.as_dict()
    if run.seconds is not None:
        metrics["seconds"] = run.seconds
    if run.resumed_at_epoch is not None:
        metrics["resumed_at_epoch"] = run.resumed_at_epoch
    (directory / RUN_LAYOUT.metrics).write_text(json.dumps(metrics, indent=2))
    plot_curves(run.history, directory / RUN_LAYOUT.curves, title=run.declaration.name,
                best=run.best_epoch, stopped=stopped, diverged=run.diverged_epoch,
                resumed=run.resumed_at_epoch, kept=run.kept)
    (directory / RUN_LAYOUT.manifest).write_text(json.dumps(manifest, indent=2, default=str))
    shutil.rmtree(directory / RUN_LAYOUT.backup, ignore_errors=True)


