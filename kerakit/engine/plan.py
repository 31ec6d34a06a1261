"""The plan: a declaration checked and resolved once, bound to its registry.

Everything downstream of a declaration asks the plan: the head and task, the
loss and metrics, the built model, the callbacks for a run directory, the
inputs for ``model.fit`` and the manifest. Training, each tuning trial, export
and the command line work from one plan, so nothing is re-derived and every
component is looked up once.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kerakit.declaration.model import Model, Sampler, check, components_of, resolve
from kerakit.declaration.values import Use
from kerakit.engine import builder, inputs
from kerakit.engine.warmup import build_training_state
from kerakit.errors import DataError, DeclarationError
from kerakit.registry.discovery import current_registry
from kerakit.registry.table import Component, Registry
from kerakit.sources.facts import Facts

__all__ = ["Head", "Plan", "build", "check_head", "plan"]


@dataclass(frozen=True)
class Head:
    """What the head says about the task.

    Attributes:
        task: ``"classification"`` or ``"regression"`` (the head's ``task`` metadata).
        classes: Number of classes, for classifiers.
        class_names: Class names, when the head declares them.
        activation: The classifier's output activation.
        outputs: Number of regression outputs.
    """

    task: str
    classes: int | None = None
    class_names: tuple[str, ...] | None = None
    activation: str | None = None
    outputs: int = 1

    @property
    def is_classifier(self) -> bool:
        return self.task == "classification"


class Plan:
    """A concrete declaration, checked once, with its components looked up once.

    Build one with :func:`plan`. ``plan.declaration`` is the concrete
    declaration; ``plan.source`` the one it came from, placeholders included.

    Example:
        >>> import kerakit as kk
        >>> p = kk.plan(kk.Model((4,), ["dense_block"], kk.use("classifier", classes=3)))
        >>> p.head.task, p.loss
        ('classification', 'sparse_categorical_crossentropy')
    """

    def __init__(self, declaration: Model, registry: Registry,
                 source: Model | None = None) -> None:
        self.declaration = declaration
        self.source = source if source is not None else declaration
        self.registry = registry
        self._components: dict[tuple[str, str], Component] = {}
        self.head = self._head()

    def __repr__(self) -> str:
        return f"Plan({self.declaration.name!r}, task={self.head.task!r})"

    # -- components --------------------------------------------------------------

    def component(self, kind: str, ref: Use) -> Component:
        """The registered component a reference names (looked up once per plan)."""
        key = (kind, ref.name)
        if key not in self._components:
            self._components[key] = self.registry.get(kind, ref.name)
        return self._components[key]

    def is_batch_level(self, ref: Any) -> bool:
        """Whether an augmentation mixes samples (MixUp, CutMix): it needs whole batches."""
        return isinstance(ref, Use) and bool(
            self.component("augmentations", ref).metadata.get("batch_level"))

    @functools.cached_property
    def has_batch_augmentation(self) -> bool:
        return any(self.is_batch_level(ref) for ref in self.declaration.augment)

    @functools.cached_property
    def accepts_missing(self) -> bool:
        """Whether the first preprocessor fills in missing values (``accepts_missing``)."""
        first = self.declaration.preprocess[0] if self.declaration.preprocess else None
        return isinstance(first, Use) and bool(
            self.component("preprocessors", first).metadata.get("accepts_missing"))

    @property
    def loss(self) -> Any:
        """The declared loss, or cross-entropy for a classifier and MSE otherwise."""
        if self.declaration.loss is not None:
            return self.declaration.loss
        if self.head.is_classifier:
            binary = self.head.activation == "sigmoid"
            return "binary_crossentropy" if binary else "sparse_categorical_crossentropy"
        return "mse"

    @property
    def metrics(self) -> list[Any]:
        """The declared metrics, or accuracy for a classifier and MAE otherwise."""
        if self.declaration.metrics is not None:
            return list(self.declaration.metrics)
        return [Use("accuracy")] if self.head.is_classifier else [Use("mae")]

    @property
    def default_objective(self) -> str:
        """What tuning maximises or minimises unless told: val_accuracy or val_loss."""
        return "val_accuracy" if self.head.is_classifier else "val_loss"

    def components_used(self) -> list[dict[str, Any]]:
        """Each registered component the plan uses, with its provider."""
        out = []
        for path, kind, ref in components_of(self.declaration):
            if isinstance(ref, Use):
                c = self.component(kind, ref)
                out.append({"path": path, "kind": kind, "name": c.qualified_name,
                            "plugin": c.plugin, "distribution": c.distribution,
                            "version": c.version})
        return out

    # -- what runs it ------------------------------------------------------------

    def build(self, adapt_data: Any = None, compile: bool = True) -> Any:
        """Build (and compile) the ``keras.Model``.

        The global Keras seed and dtype policy are set here, for this build,
        because Keras resets them (between tuning trials, for instance).

        Args:
            adapt_data: Training features for preprocessors that adapt.
            compile: Compile with the loss, optimizer and metrics.

        Raises:
            DeclarationError: naming the component where the build broke.
        """
        import keras

        if self.declaration.seed is not None:
            keras.utils.set_random_seed(int(self.declaration.seed))
        previous = keras.config.dtype_policy()
        if self.declaration.precision:
            keras.config.set_dtype_policy(self.declaration.precision)
        try:
            return builder.assemble(self, adapt_data, compile)
        finally:
            keras.config.set_dtype_policy(previous)

    def batch_augmentations(self) -> list[Any]:
        """The batch-level augmentations, created, in order."""
        return [builder.create(self, "augmentations", ref, f"augment[{i}]")
                for i, ref in enumerate(self.declaration.augment) if self.is_batch_level(ref)]

    def callbacks(self, run_dir: Path | None) -> list[Any]:
        """The declared callbacks, created.

        A callback that writes into the run directory (its factory takes
        ``run_dir``) gets ``run_dir``; with ``run_dir=None`` (tuning trials have
        no run directory) such callbacks are left out. Live Keras callbacks
        pass through as they are.
        """
        out = []
        for i, ref in enumerate(self.declaration.callbacks):
            if not isinstance(ref, Use):
                out.append(ref)
                continue
            component = self.component("callbacks", ref)
            params = dict(ref.params)
            if "run_dir" in component.valid_parameter_names:
                if run_dir is None:
                    continue
                params["run_dir"] = str(run_dir)
            try:
                out.append(component.create(**params))
            except (ValueError, TypeError) as exc:
                raise DeclarationError(f"callbacks[{i}] ({ref.name}): {exc}") from exc
        return out

    def fit_inputs(self, data: Any, replicas: int = 1, model: Any = None) -> dict[str, Any]:
        """Keyword arguments for ``model.fit``: see :func:`kerakit.engine.inputs.fit_inputs`.

        Given the ``model`` about to be fitted, its optimizer and metric state is
        created from these inputs first, so TensorFlow traces the training step
        once (see :mod:`kerakit.engine.warmup`).
        """
        kwargs = inputs.fit_inputs(self, data, replicas)
        if model is not None:
            build_training_state(model, kwargs)
        return kwargs

    def manifest(self, dataset: str | None, class_names: Sequence[str] | None = None,
                 data: dict[str, Any] | None = None) -> dict[str, Any]:
        """The run manifest: versions, plugins and components used, task, inputs.

        ``data`` is what the run trained on
        (:func:`kerakit.sources.facts.data_record`), recorded as it is.
        """
        from kerakit.engine.saving import make_manifest

        inputs = self.declaration.inputs
        names = self.head.class_names or class_names
        return make_manifest(
            self.components_used(), task=self.head.task,
            class_names=list(names) if names else None,
            inputs={"shape": list(inputs.shape), "dtype": inputs.dtype, "name": inputs.name},
            dataset=dataset, data=data,
        )

    # -- internals ---------------------------------------------------------------

    def _head(self) -> Head:
        head = self.declaration.head
        if isinstance(head, Use):
            component = self.component("blocks", head)
            task = component.metadata.get("task", "regression")
            params = {**component.defaults, **head.params}
        elif hasattr(head, "classes"):  # a live Keras head object
            task = "classification"
            params = {"classes": head.classes, "class_names": getattr(head, "class_names", None)}
        else:
            task, params = "regression", {}
        if task == "classification":
            names = params.get("class_names")
            return Head(task, classes=int(params.get("classes", 2)),
                        class_names=tuple(names) if names else None,
                        activation=params.get("activation", "softmax"))
        return Head(task, outputs=int(params.get("units", 1)))


def plan(
    decl: Model | Plan,
    sampler: Sampler | None = None,
    *,
    registry: Registry | None = None,
    facts: Facts | None = None,
    **overrides: Any,
) -> Plan:
    """Check a declaration once, resolve its placeholders, and bind it to the registry.

    Given the data's ``facts``, a table's column kinds enter the declaration
    (the declared ones were applied when the data was read), so the run
    records exactly what the model takes, and the head is checked against
    the data's classes and outputs.

    Args:
        decl: The declaration (a :class:`Plan` is returned as it is when there
            is nothing to change).
        sampler: Chooses placeholder values; ``None`` takes the defaults.
        registry: The registry to resolve against; defaults to the loaded plugins'.
        facts: What the data holds (:meth:`kerakit.sources.source.Source.facts`).
        **overrides: Declaration fields to change first, e.g. ``epochs=5``;
            ``None`` values are ignored.

    Returns:
        A :class:`Plan`.

    Raises:
        DeclarationError: for unknown components, parameters or fields.
        DataError: for a head that does not fit the data's facts.

    Example:
        >>> import kerakit as kk
        >>> decl = kk.Model((4,), ["dense_block"], kk.use("classifier", classes=3))
        >>> kk.plan(decl, epochs=5).declaration.epochs
        5
    """
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if isinstance(decl, Plan):
        if not overrides and sampler is None and registry in (None, decl.registry):
            return decl
        decl = decl.source
    if not isinstance(decl, Model):
        raise DeclarationError(f"Invalid declaration. Expected a kerakit.Model. "
                               f"Received: {type(decl).__name__}")
    if facts is not None and facts.columns and dict(decl.columns or {}) != facts.columns:
        overrides["columns"] = dict(facts.columns)
    if overrides:
        decl = decl.replace(**overrides)
    registry = registry or current_registry()
    check(decl, registry.get)
    planned = Plan(resolve(decl, sampler), registry, source=decl)
    if facts is not None:
        check_head(planned.head, facts)
    return planned


def check_head(head: Head, facts: Facts) -> None:
    """The head against the data: no more named classes in the data than the head has,
    and as many regression targets as outputs.

    Raises:
        DataError: naming what the data holds and what the head declares.
    """
    names = facts.class_names or ()
    # integer labels are indices, and an out-of-range one is named by its row when split
    named = not all(n.lstrip("-").isdigit() for n in names)
    if head.is_classifier and facts.task == "classification" and not head.class_names \
            and named and len(names) > int(head.classes or 0):
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        raise DataError(f"Invalid head for `{facts.name}`. Expected classes={len(names)}, one "
                        f"per class of the data ({shown}). Received: classes={head.classes}")
    if not head.is_classifier and facts.task == "regression" and facts.outputs != head.outputs:
        raise DataError(f"Invalid head for `{facts.name}`. Expected units={facts.outputs}, one "
                        f"per target. Received: units={head.outputs}")


def build(
    decl: Model | Plan,
    *,
    sampler: Sampler | None = None,
    adapt_data: Any = None,
    compile: bool = True,
) -> Any:
    """Build (and compile) the ``keras.Model`` a declaration describes.

    Placeholders take their defaults unless ``sampler`` chooses them.

    Args:
        decl: The declaration, or a :class:`Plan`.
        sampler: Chooses placeholder values (see :class:`kerakit.Sampler`).
        adapt_data: Training features; preprocessors with ``adapt`` learn from
            them, each on the output of the ones before it.
        compile: Compile with the declared loss, optimizer and metrics.

    Returns:
        A functional ``keras.Model``.

    Raises:
        DeclarationError: naming the component where the build broke.

    Example:
        >>> import kerakit as kk
        >>> decl = kk.Model((8, 8, 1), ["flatten"], kk.use("classifier", classes=10),
        ...                 preprocess=["rescale"])
        >>> [layer.name for layer in kk.build(decl).layers][:2]
        ['inputs', 'preprocess_0_rescale']
    """
    return plan(decl, sampler).build(adapt_data=adapt_data, compile=compile)
