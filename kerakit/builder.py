"""Declaration -> ``keras.Model``: components instantiated from the registry.

Layer names show which component made them: ``preprocess_0_standardize``,
``augment_1_random_rotation``, ``block_2_conv_block``, ``head_classifier``.
"""

from __future__ import annotations

from typing import Any

from kerakit.errors import DeclarationError, KerakitError
from kerakit.plugins import current_registry
from kerakit.registry import Component, Registry, instantiate
from kerakit.spec import Model, Sampler, Use, check, components_of, resolve

AUGMENT_PREFIX = "augment_"


def build(
    decl: Model,
    *,
    sampler: Sampler | None = None,
    adapt_data: Any = None,
    compile: bool = True,
) -> Any:
    """Build (and compile) the ``keras.Model`` a declaration describes.

    Placeholders take their defaults unless ``sampler`` chooses them. The global
    Keras seed is set from the declaration here, because Keras resets it (for
    instance between tuning trials).

    Args:
        decl: The declaration.
        sampler: Chooses placeholder values (see :class:`kerakit.spec.Sampler`).
        adapt_data: Training features; preprocessors with ``adapt`` learn from
            them, each on the output of the ones before it.
        compile: Compile with the declared loss, optimizer and metrics.

    Returns:
        A functional ``keras.Model``.

    Raises:
        DeclarationError: naming the component where the build broke.

    Example:
        >>> model = build(decl)
        >>> [layer.name for layer in model.layers][:2]
        ['inputs', 'preprocess_0_standardize']
    """
    import keras

    registry = current_registry()
    check(decl, registry.get)
    concrete = resolve(decl, sampler)
    if concrete.seed is not None:
        keras.utils.set_random_seed(int(concrete.seed))

    # Keras' dtype policy is global and reset between tuning trials: set it for
    # this build only, and put the previous one back afterwards.
    previous = keras.config.dtype_policy()
    if concrete.precision:
        keras.config.set_dtype_policy(concrete.precision)
    try:
        return _assemble(registry, concrete, adapt_data, compile)
    finally:
        keras.config.set_dtype_policy(previous)


def _assemble(registry: Registry, concrete: Model, adapt_data: Any, compile: bool) -> Any:
    import keras

    inputs = keras.Input(shape=concrete.inputs.shape, dtype=concrete.inputs.dtype,
                         name=concrete.inputs.name)
    x = inputs
    adapt_x = adapt_data
    for i, ref in enumerate(concrete.preprocess):
        layer = _create(registry, "preprocessors", ref, f"preprocess[{i}]",
                        name=f"preprocess_{i}_{_short(ref)}")
        if adapt_x is not None:
            adapt_x = _adapt(layer, adapt_x, f"preprocess[{i}]", ref)
        x = _apply(layer, x, f"preprocess[{i}]", ref)
    for i, ref in enumerate(concrete.augment):
        if is_batch_level(registry, ref):
            continue  # applied to whole (x, y) batches in the input pipeline, not in the graph
        layer = _create(registry, "augmentations", ref, f"augment[{i}]",
                        name=f"{AUGMENT_PREFIX}{i}_{_short(ref)}")
        x = _apply(layer, x, f"augment[{i}]", ref)
    for i, ref in enumerate(concrete.blocks):
        layer = _create(registry, "blocks", ref, f"blocks[{i}]",
                        name=f"block_{i}_{_short(ref)}", defaults=_block_defaults(concrete))
        x = _apply(layer, x, f"blocks[{i}]", ref)
    head_defaults = _block_defaults(concrete)
    if concrete.precision and concrete.precision != "float32":
        head_defaults["dtype"] = "float32"  # outputs and the loss stay in full precision
    head = _create(registry, "blocks", concrete.head, "head", name=f"head_{_short(concrete.head)}",
                   defaults=head_defaults)
    outputs = _apply(head, x, "head", concrete.head)
    if len(outputs.shape) != 2:
        raise DeclarationError(
            f"head ({_short(concrete.head)}): Expected a 2-D output (batch, outputs). Received: "
            f"shape {tuple(outputs.shape)}. Add 'flatten' or 'global_avg_pool' before the head."
        )
    model = keras.Model(inputs, outputs, name=concrete.name)
    if compile:
        model.compile(
            optimizer=_create(registry, "optimizers", concrete.optimizer, "optimizer"),
            loss=_create(registry, "losses", concrete.loss or default_loss(concrete), "loss"),
            metrics=[_create(registry, "metrics", m, f"metrics[{i}]")
                     for i, m in enumerate(_metrics(concrete))],
        )
    return model


def is_batch_level(registry: Registry, ref: Any) -> bool:
    """Whether an augmentation mixes samples (MixUp, CutMix): it needs whole batches and labels."""
    return isinstance(ref, Use) and bool(
        registry.get("augmentations", ref.name).metadata.get("batch_level"))


def batch_augmentations(decl: Model) -> list[Any]:
    """The concrete declaration's batch-level augmentations, created."""
    registry = current_registry()
    return [_create(registry, "augmentations", ref, f"augment[{i}]")
            for i, ref in enumerate(decl.augment) if is_batch_level(registry, ref)]


def inference_model(model: Any) -> Any:
    """The same model, sharing its weights, with the augmentation layers left out.

    Random augmentation left in a graph can stay active when it is exported,
    so exports and predictions are built from this graph.
    """
    import keras

    def call(layer: Any, *args: Any, **kwargs: Any) -> Any:
        if layer.name.startswith(AUGMENT_PREFIX):
            return args[0]
        return layer(*args, **kwargs)

    return keras.models.clone_model(model, clone_function=lambda layer: layer,
                                    call_function=call)


def head_info(decl: Model) -> dict[str, Any]:
    """Task, classes and class names, from a concrete declaration's head.

    The task comes from the head component's ``task`` metadata
    (``"classification"`` or ``"regression"``).
    """
    head = decl.head
    params = dict(head.params) if isinstance(head, Use) else {}
    task = "regression"
    if isinstance(head, Use):
        component = current_registry().get("blocks", head.name)
        task = component.metadata.get("task", "regression")
        params = {**component.defaults, **params}
    elif hasattr(head, "classes"):
        task = "classification"
        params = {"classes": head.classes, "class_names": getattr(head, "class_names", None),
                  "activation": "softmax"}
    if task == "classification":
        return {"task": task, "classes": params.get("classes", 2),
                "class_names": params.get("class_names"),
                "activation": params.get("activation", "softmax")}
    return {"task": task, "outputs": params.get("units", 1)}


def default_loss(decl: Model) -> str:
    info = head_info(decl)
    if info["task"] == "classification":
        binary = info["activation"] == "sigmoid"
        return "binary_crossentropy" if binary else "sparse_categorical_crossentropy"
    return "mse"


def components_used(decl: Model, registry: Registry | None = None) -> list[dict[str, Any]]:
    """Each registered component a concrete declaration uses, with its provider."""
    registry = registry or current_registry()
    out = []
    for path, kind, ref in components_of(decl):
        if isinstance(ref, Use):
            c = registry.get(kind, ref.name)
            out.append({"path": path, "kind": kind, "name": c.qualified_name,
                        "plugin": c.plugin, "distribution": c.distribution,
                        "version": c.version})
    return out


def _metrics(decl: Model) -> list[Any]:
    if decl.metrics is not None:
        return list(decl.metrics)
    return [Use("accuracy")] if head_info(decl)["task"] == "classification" else [Use("mae")]


def _block_defaults(decl: Model) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    if decl.initializer is not None:
        defaults["kernel_initializer"] = decl.initializer
    if decl.regularizer is not None:
        defaults["kernel_regularizer"] = decl.regularizer
    return defaults


def _short(ref: Any) -> str:
    if isinstance(ref, Use):
        return ref.short_name
    return type(ref).__name__.lower()


def _create(registry: Registry, kind: str, ref: Any, path: str, name: str | None = None,
            defaults: dict[str, Any] | None = None) -> Any:
    try:
        if not isinstance(ref, Use):
            return instantiate(registry, kind, ref)
        component: Component = registry.get(kind, ref.name)
        params = dict(ref.params)
        valid = set(component.valid_parameter_names)
        for key, value in (defaults or {}).items():
            if key in valid and key not in params:
                params[key] = _resolve_default(registry, key, value)
        if name is not None and "name" in valid and "name" not in params:
            params["name"] = name
        return component.create(**params)
    except DeclarationError:
        raise
    except (KerakitError, ValueError, TypeError) as exc:
        raise DeclarationError(f"{path} ({_short(ref)}): {exc}") from exc


def _resolve_default(registry: Registry, key: str, value: Any) -> Any:
    if key == "kernel_initializer":
        return _create(registry, "initializers", value, "initializer")
    if key == "dtype":
        return value
    import keras

    return keras.regularizers.get(value)


def _apply(layer: Any, x: Any, path: str, ref: Any) -> Any:
    try:
        return layer(x)
    except Exception as exc:
        raise DeclarationError(
            f"{path} ({_short(ref)}) cannot take its input of shape {tuple(x.shape)}: "
            f"{' '.join(str(exc).split())[:400]}"
        ) from exc


def _adapt(layer: Any, data: Any, path: str, ref: Any) -> Any:
    """Adapt ``layer`` if it can, and return ``data`` passed through it."""
    import numpy as np

    if hasattr(layer, "adapt"):
        try:
            layer.adapt(data)
        except Exception as exc:
            raise DeclarationError(f"{path} ({_short(ref)}) could not adapt: {exc}") from exc
    if hasattr(data, "map"):  # a tf.data.Dataset of features
        return data.map(lambda batch: layer(batch))
    out = [np.asarray(layer(data[i:i + 4096])) for i in range(0, len(data), 4096)]
    return np.concatenate(out, axis=0)

