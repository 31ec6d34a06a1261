"""Training: data checks, ``fit()``, test evaluation and the run directory.

A run directory is written beside its target as ``.<name>.partial`` and
renamed into place when the run is complete, so the target is never
half-written. A crashed run leaves the partial directory with Keras'
backup-and-restore state; the same ``fit`` call resumes from it.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kerakit.backup import IntervalBackup
from kerakit.builder import build, components_used, head_info
from kerakit.data import Dataset, Streams, check_arrays, is_tf_dataset, split, streams_from
from kerakit.errors import DataError, DeclarationError
from kerakit.plugins import current_registry
from kerakit.spec import Model, Sampler, check, resolve

RUN_FILES = ("model.keras", "declaration.json", "history.csv", "metrics.json", "curves.png",
             "manifest.json")


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
        report: Classification report and confusion matrix, for classifiers.
        replicas: Devices the model was replicated over (1 unless distributed).
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

    def summary(self) -> str:
        """A few lines for people: test metrics, best epoch, where the outputs are."""
        metrics = ", ".join(f"{k}={v:.4f}" for k, v in self.metrics.items())
        lines = [f"test: {metrics}"]
        if self.best_epoch is not None:
            lines.append(f"best epoch: {self.best_epoch + 1} of {self.epochs_run} run")
        if self.diverged_epoch is not None:
            lines.append(f"overfitting: validation loss rose from epoch {self.diverged_epoch + 1}")
        lines.append(f"outputs: {self.dir}")
        return "\n".join(lines)


def load_data(data: Any, decl: Model) -> Dataset | Streams:
    """Turn ``data`` into train / validation / test splits.

    Args:
        data: A registered dataset name; a :class:`~kerakit.data.Dataset`; a tuple
            ``(x, y)`` (split by the declaration's ``validation_split``, with a
            20% test split); a dict with ``train``, ``val`` and ``test``
            ``(x, y)`` tuples; or a batched ``tf.data.Dataset`` of ``(x, y)``, or a
            dict of them (see :func:`kerakit.data.streams_from`).
        decl: The concrete declaration (its validation split is used).

    Splits always use the seed 0, whatever the declaration's seed, so runs
    with different seeds are compared on the same test set.

    Raises:
        DataError: for anything else, or data that cannot be split.
    """
    if isinstance(data, (Dataset, Streams)):
        return data
    if is_tf_dataset(data) or (isinstance(data, dict) and any(map(is_tf_dataset,
                                                                   data.values()))):
        info = head_info(decl)
        return streams_from(data, float(decl.validation_split), info["task"],
                            info.get("class_names"))
    if isinstance(data, str):
        factory = current_registry().get("datasets", data)
        return factory.create(val_size=float(decl.validation_split))
    if isinstance(data, tuple) and len(data) == 2:
        return split(*data, val_size=float(decl.validation_split), test_size=0.2, seed=0,
                     task=head_info(decl)["task"],
                     class_names=head_info(decl).get("class_names"))
    if isinstance(data, dict) and {"train", "val"} <= set(data):
        empty = (np.asarray(data["train"][0])[:0], np.asarray(data["train"][1])[:0])
        parts = [tuple(np.asarray(a) for a in data.get(k, empty)) for k in ("train", "val", "test")]
        info = head_info(decl)
        return Dataset("data", *parts[0], *parts[1], *parts[2], task=info["task"],
                       class_names=info.get("class_names"))
    raise DataError(
        "Invalid data. Expected a registered dataset name (e.g. 'digits'), a kerakit.Dataset, "
        f"an (x, y) tuple, or a dict of (x, y) splits. Received: {type(data).__name__}"
    )


def check_data(decl: Model, data: Dataset | Streams) -> None:
    """Check the data against the declaration before anything is trained or written.

    ``tf.data`` pipelines are checked by their element spec only: their values
    are not read ahead of training.

    Raises:
        DataError: for a shape that does not match the inputs, NaN or inf
            features, labels out of range for the head, or empty splits.
    """
    expected = decl.inputs.shape
    if isinstance(data, Streams):
        got = data.input_shape
        if not _shape_matches(expected, got):
            raise DataError(
                f"Invalid tf.data pipeline: shape does not match the declared inputs. "
                f"Expected samples of shape {expected}. Received: {got}"
            )
        return
    allow_missing = _imputes_first(decl)
    for part in ("train", "val", "test"):
        x, y = getattr(data, f"x_{part}"), getattr(data, f"y_{part}")
        if part == "train" or len(x):
            check_arrays(np.asarray(x), np.asarray(y), f"{data.name} ({part})",
                         allow_missing=allow_missing)
        got = tuple(np.asarray(x).shape[1:])
        if not _shape_matches(expected, got):
            raise DataError(
                f"Invalid data `{data.name}` ({part}): shape does not match the declared inputs. "
                f"Expected samples of shape {expected}. Received: {got}"
            )
    info = head_info(decl)
    if info["task"] == "classification":
        classes = info["classes"]
        for part in ("train", "val", "test"):
            y = np.asarray(getattr(data, f"y_{part}"))
            if len(y) and (y.dtype.kind not in "iub" or y.min() < 0 or y.max() >= classes):
                raise DataError(
                    f"Invalid labels in `{data.name}` ({part}). Expected integer class indices "
                    f"in [0, {classes - 1}] for the head's {classes} classes. Received: "
                    f"dtype {y.dtype}, values from {y.min()} to {y.max()}"
                )
    if not len(data.x_val):
        raise DataError(
            f"Invalid data `{data.name}`: the validation split is empty. Expected "
            "validation_split > 0 or a `val` split; early stopping and the curves need it."
        )


def _shape_matches(expected: tuple, got: tuple) -> bool:
    """Same rank, and equal wherever both sizes are known (None matches any size)."""
    return len(got) == len(expected) and all(
        e is None or g is None or e == g for e, g in zip(expected, got, strict=True))


def _imputes_first(decl: Model) -> bool:
    """Whether the first preprocessor fills in missing values (registered ``accepts_missing``)."""
    if not decl.preprocess or not hasattr(decl.preprocess[0], "name"):
        return False
    component = current_registry().get("preprocessors", decl.preprocess[0].name)
    return bool(component.metadata.get("accepts_missing"))


def fit(
    decl: Model,
    data: Any,
    *,
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
) -> Run:
    """Train a declaration with Keras ``fit()``, evaluate it on the test split, save a run.

    Placeholders take their defaults unless ``sampler`` chooses them.
    Statistics-based preprocessors adapt on the training split only.

    Args:
        decl: The declaration.
        data: See :func:`load_data`.
        epochs: Overrides the declaration's.
        batch_size: Overrides the declaration's.
        seed: Overrides the declaration's.
        out: Run directory; defaults to ``runs/<name>-<timestamp>``.
        overwrite: Replace an existing run at ``out``.
        sampler: Chooses placeholder values.
        verbose: Passed to ``model.fit``.
        callbacks: Extra Keras callbacks, after the declared ones.
        distribute: ``"mirrored"`` trains data-parallel over every local GPU (or
            logical CPU device): ``tf.distribute.MirroredStrategy`` on
            TensorFlow, ``keras.distribution.DataParallel`` on JAX.
        backup_every: Seconds between backups of the training state; a crashed
            run resumes from the last one. 0 backs up every epoch.

    Returns:
        A :class:`Run`.

    Raises:
        DeclarationError: for unknown components or parameters, or a model that
            cannot be built; nothing is written.
        DataError: for data that does not fit the declaration; nothing is written.
        FileExistsError: if ``out`` holds a run and ``overwrite`` is false.

    Example:
        >>> run = fit(decl, "digits", epochs=30)
        >>> run.metrics["accuracy"]
    """

    from kerakit.scale import check_strategy, distribution

    check_strategy(distribute)
    overrides = {k: v for k, v in (("epochs", epochs), ("batch_size", batch_size),
                                   ("seed", seed)) if v is not None}
    if overrides:
        decl = decl.replace(**overrides)
    check(decl, current_registry().get)
    concrete = resolve(decl, sampler)
    dataset = load_data(data, concrete)
    check_data(concrete, dataset)

    target = Path(out) if out is not None else default_run_dir(concrete.name)
    if target.exists() and (target.is_file() or any(target.iterdir())) and not overwrite:
        raise FileExistsError(
            f"The output directory {str(target)!r} already holds a run. Expected a new or empty "
            "directory. Use overwrite=True (--overwrite) to replace it."
        )
    partial = target.parent / f".{target.name}.partial"
    _prepare_partial(partial, concrete)

    streaming = isinstance(dataset, Streams)
    with distribution(distribute) as replicas:
        model = build(concrete, adapt_data=dataset.features() if streaming else dataset.x_train)
        backup = IntervalBackup(str(partial / "backup"), interval=backup_every)
        run_callbacks = [*make_callbacks(concrete, partial), backup, *callbacks]
        inputs = training_inputs(concrete, dataset, replicas)
        history = model.fit(**inputs, epochs=int(concrete.epochs), callbacks=run_callbacks,
                            verbose=verbose).history
    history = {k: [float(v) for v in vals] for k, vals in history.items()}

    metrics, report = _evaluate(model, dataset, concrete)
    run = Run(
        model=model, history=history, metrics=metrics, dir=target, declaration=concrete,
        best_epoch=_best_epoch(history, run_callbacks),
        epochs_run=len(next(iter(history.values()), [])),
        diverged_epoch=_diverged(history, run_callbacks), report=report, replicas=replicas,
    )
    _write_run(run, partial, dataset)
    _replace(partial, target)
    return run


def training_inputs(decl: Model, data: Dataset | Streams, replicas: int = 1) -> dict[str, Any]:
    """Keyword arguments for ``model.fit``: the data, batched and augmented as declared.

    Batch-level augmentations (MixUp, CutMix) need whole batches with their
    labels, so they run in a ``tf.data`` pipeline on the training split, with
    one-hot labels for classifiers; the validation labels are one-hot too, so
    the metrics see one label format.

    JAX's data parallelism splits every batch evenly between devices, so with
    several replicas on JAX the last, partial batch of each epoch is dropped.
    """
    import keras

    from kerakit.builder import batch_augmentations

    if isinstance(data, Streams):  # batched already: the declared batch size does not apply
        return {"x": data.train, "validation_data": data.val, "shuffle": False}
    mixers = batch_augmentations(decl)
    even = replicas > 1 and keras.backend.backend() == "jax"
    if even and not mixers:
        return _even_batches(decl, data)
    if not mixers:
        return {"x": data.x_train, "y": data.y_train,
                "validation_data": (data.x_val, data.y_val),
                "batch_size": int(decl.batch_size)}
    import tensorflow as tf

    y_train, y_val = (one_hot(y, data) for y in (data.y_train, data.y_val))

    def mix(x: Any, y: Any) -> tuple[Any, Any]:
        for mixer in mixers:
            x, y = mixer(x, y)
        return x, y

    pipeline = (tf.data.Dataset.from_tensor_slices((data.x_train, y_train))
                .shuffle(len(data.x_train), seed=int(decl.seed or 0))
                .batch(int(decl.batch_size), drop_remainder=even)
                .map(mix, num_parallel_calls=tf.data.AUTOTUNE)
                .prefetch(tf.data.AUTOTUNE))
    return {"x": pipeline, "validation_data": (data.x_val, y_val), "shuffle": False}


def _even_batches(decl: Model, data: Dataset) -> dict[str, Any]:
    import tensorflow as tf

    batch = int(decl.batch_size)

    def pipe(x: np.ndarray, y: np.ndarray, shuffle: bool) -> Any:
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        if shuffle:
            ds = ds.shuffle(len(x), seed=int(decl.seed or 0))
        return ds.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)

    return {"x": pipe(data.x_train, data.y_train, True),
            "validation_data": pipe(data.x_val, data.y_val, False), "shuffle": False}


def one_hot(y: np.ndarray, data: Dataset) -> np.ndarray:
    """Class indices as float one-hot rows, for classifiers; other targets unchanged."""
    if data.task != "classification" or np.asarray(y).ndim > 1:
        return y
    classes = data.num_classes or int(np.max(y)) + 1
    return np.eye(classes, dtype="float32")[np.asarray(y).astype(int)]


def default_run_dir(name: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{name}-{stamp}"


def _prepare_partial(partial: Path, decl: Model) -> None:
    """Reuse a crashed run's partial directory for the same declaration, else start clean."""
    marker = partial / "declaration.json"
    if partial.exists():
        same = marker.exists() and json.loads(marker.read_text()) == decl.to_dict()
        if not same:
            shutil.rmtree(partial)
    partial.mkdir(parents=True, exist_ok=True)
    marker.write_text(decl.to_json())


def make_callbacks(decl: Model, run_dir: Path | None) -> list[Any]:
    """The declared callbacks, created.

    A callback that writes into the run directory (its factory takes
    ``run_dir``) gets ``run_dir``; with ``run_dir=None`` (tuning trials, which
    have no run directory) such callbacks are left out.
    """
    registry = current_registry()
    out = []
    for i, ref in enumerate(decl.callbacks):
        try:
            component = registry.get("callbacks", ref.name)
            params = dict(ref.params)
            if "run_dir" in component.valid_parameter_names:
                if run_dir is None:
                    continue
                params["run_dir"] = str(run_dir)
            out.append(component.create(**params))
        except (ValueError, TypeError) as exc:
            raise DeclarationError(f"callbacks[{i}] ({ref.name}): {exc}") from exc
    return out


def _evaluate(model: Any, data: Dataset | Streams,
              decl: Model) -> tuple[dict[str, float], dict[str, Any]]:
    from kerakit.report import classification_summary

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
    batch = int(decl.batch_size)
    from kerakit.builder import is_batch_level

    mixed = any(is_batch_level(current_registry(), ref) for ref in decl.augment)
    # a model trained on one-hot labels (batch-level augmentation) is evaluated on them too
    labels = one_hot(y_test, data) if isinstance(data, Dataset) and mixed else y_test
    values = model.evaluate(x_test, labels, batch_size=batch, verbose=0, return_dict=True)
    metrics = {k: float(v) for k, v in values.items()}
    report: dict[str, Any] = {}
    if data.task == "classification":
        probs = model.predict(x_test, batch_size=batch, verbose=0)
        report = classification_summary(y_test, probs, data.class_names)
    return metrics, report


def _best_epoch(history: dict[str, list[float]], callbacks: list[Any]) -> int | None:
    from kerakit.report import best_epoch

    for cb in callbacks:
        if getattr(cb, "restore_best_weights", False) and getattr(cb, "best_epoch", None):
            return int(cb.best_epoch)
    return best_epoch(history)


def _diverged(history: dict[str, list[float]], callbacks: list[Any]) -> int | None:
    from kerakit.report import divergence_epoch

    for cb in callbacks:
        if getattr(cb, "diverged_epoch", None) is not None:
            return int(cb.diverged_epoch)
    return divergence_epoch(history)


def _write_run(run: Run, directory: Path, data: Dataset | Streams) -> None:
    from kerakit.report import plot_curves, write_history_csv
    from kerakit.saving import make_manifest, save_model

    info = head_info(run.declaration)
    class_names = info.get("class_names") or data.class_names
    manifest = make_manifest(
        components_used(run.declaration), task=info["task"], class_names=class_names,
        inputs={"shape": list(run.declaration.inputs.shape),
                "dtype": run.declaration.inputs.dtype, "name": run.declaration.inputs.name},
        dataset=data.name,
    )
    save_model(run.model, directory / "model.keras", manifest)
    (directory / "declaration.json").write_text(run.declaration.to_json())
    write_history_csv(run.history, directory / "history.csv")
    stopped = run.epochs_run - 1 if run.epochs_run < int(run.declaration.epochs) else None
    metrics = {"test": run.metrics, "best_epoch": run.best_epoch, "epochs_run": run.epochs_run,
               "stopped_epoch": stopped, "diverged_epoch": run.diverged_epoch, **run.report}
    (directory / "metrics.json").write_text(json.dumps(metrics, indent=2))
    plot_curves(run.history, directory / "curves.png", title=run.declaration.name,
                best=run.best_epoch, stopped=stopped, diverged=run.diverged_epoch)
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    shutil.rmtree(directory / "backup", ignore_errors=True)


def _replace(partial: Path, target: Path) -> None:
    """Move the finished run into place; an existing run is swapped out, then removed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    partial.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
