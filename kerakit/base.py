"""Base classes and helpers for component authors: the public, stable surface.

Plugins (the built-ins included) build on these instead of kerakit's internals.

Example:
    >>> from kerakit.base import EpochSchedule
    >>> class Halve(EpochSchedule):
    ...     def rate(self, epoch, base):
    ...         return base / 2 ** epoch
    >>> Halve().rate(2, 0.1)
    0.025
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

__all__ = ["BatchMixer", "CompositeLayer", "EpochSchedule", "RunOutcome", "TrackedRun", "Tracker",
           "build_in_sequence"]


def build_in_sequence(layers: Sequence[keras.layers.Layer], input_shape: tuple) -> tuple:
    """Build each layer on the previous one's output shape; return the last shape.

    Composite layers must build their sub-layers explicitly, or Keras cannot
    restore their weights when the model is reloaded.
    """
    shape = tuple(input_shape)
    for layer in layers:
        if not layer.built:
            layer.build(shape)
        shape = tuple(layer.compute_output_shape(shape))
    return shape



class CompositeLayer(keras.layers.Layer):
    """Base class: a block made of a fixed sequence of sub-layers.

    Subclasses create their sub-layers in ``__init__`` and return them, in
    order, from ``_sequence()``; building, calling and output shapes follow.
    """

    def _sequence(self) -> list[keras.layers.Layer]:
        raise NotImplementedError

    def build(self, input_shape: tuple) -> None:
        build_in_sequence(self._sequence(), input_shape)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x = inputs
        for layer in self._sequence():
            x = layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        shape = tuple(input_shape)
        for layer in self._sequence():
            shape = tuple(layer.compute_output_shape(shape))
        return shape


class EpochSchedule(keras.callbacks.Callback):
    """Base class: sets the optimizer's learning rate at the start of each epoch.

    Subclasses implement ``rate(epoch, base)``, where ``base`` is the rate the
    optimizer started with.
    """

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.base_rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.model.optimizer.learning_rate = self.rate(epoch, self.base_rate)

    def rate(self, epoch: int, base: float) -> float:
        raise NotImplementedError


class BatchMixer:
    """Base class: a batch-level augmentation wrapping a Keras mixing layer.

    The layer (``layer_class``, such as ``keras.layers.MixUp``) takes
    ``{"images", "labels"}``; kerakit calls ``mixer(images, labels)`` on whole
    training batches in the input pipeline. Register it with ``batch_level=True``.
    """

    layer_class: Any = None

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.layer = self.layer_class(**params)

    def __call__(self, images: Any, labels: Any) -> tuple[Any, Any]:
        out = self.layer({"images": images, "labels": labels}, training=True)
        return out["images"], out["labels"]

    def get_config(self) -> dict[str, Any]:
        return dict(self.params)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BatchMixer:
        return cls(**config)


@dataclass
class TrackedRun:
    """What a tracker is told when a run starts: one training run, search or trial.

    Attributes:
        id: A unique id, stable for the run's lifetime.
        name: The run's name (the run directory's, or ``trial_<id>``).
        kind: ``"train"``, ``"search"`` (a tuning parent run) or ``"trial"``.
        parent: The search a trial belongs to, else ``None``.
        declaration: The resolved declaration, as ``Model.to_dict()`` writes it.
        hyperparameters: Chosen values by dotted name (``blocks.0.filters``).
        data: ``{"name": ..., "fingerprint": ...}``.
        versions: ``{"kerakit": ..., "<plugin>": ...}`` for kerakit and each plugin used.
        run_dir: Where the run writes its files, when it has a directory.
        resumed_history: When this run resumes a crashed one (same ``id``), the
            epochs that run's backup kept, by metric (``{"loss": [...], ...}``),
            so a tracker can fill in what it missed; else empty.
    """

    id: str
    name: str
    kind: str
    parent: TrackedRun | None = None
    declaration: dict[str, Any] = field(default_factory=dict)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    run_dir: Path | None = None
    resumed_history: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class RunOutcome:
    """What a tracker is told when a run ends.

    Attributes:
        status: ``"finished"``, ``"failed"`` or ``"pruned"``.
        metrics: Test metrics of a training run; the best score of a search or trial.
        files: The run directory's files.
        model: The saved ``.keras`` file, if any.
        export: The exported SavedModel directory, if any.
        error: Why the run failed or was pruned.
    """

    status: str = "finished"
    metrics: dict[str, float] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    model: Path | None = None
    export: Path | None = None
    error: str | None = None


class Tracker:
    """Base class: an experiment tracker, told about runs as they happen.

    Register a subclass (or a factory returning one) with the
    ``kerakit_trackers`` hook. Every method is optional. kerakit calls them
    from the training process; one that raises switches the tracker off
    with a warning, and the run goes on.

    Example:
        >>> class Printer(Tracker):
        ...     def log_epoch(self, run, epoch, metrics):
        ...         print(run.name, epoch, metrics)
        >>> Printer().log_epoch(TrackedRun("1", "demo", "train"), 0, {"loss": 0.5})
        demo 0 {'loss': 0.5}
    """

    def start_run(self, run: TrackedRun) -> None:
        """A run, search or trial started."""

    def log_epoch(self, run: TrackedRun, epoch: int, metrics: dict[str, float]) -> None:
        """One epoch ended (0-based ``epoch``) with these logged metrics."""

    def end_run(self, run: TrackedRun, outcome: RunOutcome) -> None:
        """The run ended; ``outcome`` says how, with its metrics and files."""

    def log_export(self, run: TrackedRun, path: Path) -> None:
        """A finished run was exported to ``path`` (a SavedModel directory)."""
