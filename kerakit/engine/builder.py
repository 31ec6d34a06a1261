"""Graph assembly: a plan's components instantiated and wired into a ``keras.Model``.

The public entry is :meth:`kerakit.engine.plan.Plan.build` (and
:func:`kerakit.build`); this module holds the wiring it uses. Layer names show
which component made them: ``preprocess_0_standardize``,
``augment_1_random_rotation``, ``block_2_conv_block``, ``head_classifier``.
"""

from __future__ import annotations

from typing import Any

from kerakit.declaration.values import Use
from kerakit.errors import DeclarationError, KerakitError, PluginError
from kerakit.registry.table import Component, instantiate

Plan = Any  # a kerakit.engine.plan.Plan; not imported, as the plan module imports this one

AUGMENT_PREFIX = "augment_"


def assemble(plan: Plan, adapt_data: Any = None, compile: bool = True) -> Any:
    """Wire the plan's components into a functional ``keras.Model`` (and compile it).

    Preprocessors with ``adapt`` learn from ``adapt_data``, each on the output
    of the ones before it. Batch-level augmentations are left out: they run in
    the input pipeline (see :meth:`Plan.fit_inputs`).

    Raises:
        DeclarationError: naming the component where the build broke.
    """
    import keras

    concrete = plan.declaration
    if concrete.columns:  # a table: named raw columns, encoded inside the model
        from kerakit.engine.tables import front_end

        inputs, x, adapt_x = front_end(concrete.columns, adapt_data)
    else:
        inputs = keras.Input(shape=concrete.inputs.shape, dtype=concrete.inputs.dtype,
                             name=concrete.inputs.name)
        x = inputs
        adapt_x = adapt_data
    for i, ref in enumerate(concrete.preprocess):
        layer = create(plan, "preprocessors", ref, f"preprocess[{i}]",
                       name=f"preprocess_{i}_{short(ref)}")
        if adapt_x is not None:
            adapt_x = _adapt(layer, adapt_x, f"preprocess[{i}]", ref)
        x = _apply(layer, x, f"preprocess[{i}]", ref)
    for i, ref in enumerate(concrete.augment):
        if plan.is_batch_level(ref):
            continue  # applied to whole (x, y) batches in the input pipeline, not in the graph
        layer = create(plan, "augmentations", ref, f"augment[{i}]",
                       name=f"{AUGMENT_PREFIX}{i}_{short(ref)}")
        x = _apply(layer, x, f"augment[{i}]", ref)
    for i, ref in enumerate(concrete.blocks):
        layer = create(plan, "blocks", ref, f"blocks[{i}]",
                       name=f"block_{i}_{short(ref)}", defaults=_block_defaults(concrete))
        x = _apply(layer, x, f"blocks[{i}]", ref)
    head_defaults = _block_defaults(concrete)
    if concrete.precision and concrete.precision != "float32":
        head_defaults["dtype"] = "float32"  # outputs and the loss stay in full precision
    head = create(plan, "blocks", concrete.head, "head", name=f"head_{short(concrete.head)}",
                  defaults=head_defaults)
    outputs = _apply(head, x, "head", concrete.head)
    if len(outputs.shape) != 2:
        raise DeclarationError(
            f"head ({short(concrete.head)}): Expected a 2-D output (batch, outputs). Received: "
            f"shape {tuple(outputs.shape)}. Add 'flatten' or 'global_avg_pool' before the head."
        )
    model = keras.Model(inputs, outputs, name=concrete.name)
    if compile:
        model.compile(
            optimizer=create(plan, "optimizers", concrete.optimizer, "optimizer"),
            loss=create(plan, "losses", plan.loss, "loss"),
            metrics=[create(plan, "metrics", m, f"metrics[{i}]")
                     for i, m in enumerate(plan.metrics)],
        )
    return model


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


def _block_defaults(decl: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    if decl.initializer is not None:
        defaults["kernel_initializer"] = decl.initializer
    if decl.regularizer is not None:
        defaults["kernel_regularizer"] = decl.regularizer
    return defaults


def short(ref: Any) -> str:
    """A reference's short name, for layer names and messages."""
    if isinstance(ref, Use):
        return ref.short_name
    return type(ref).__name__.lower()


def create(plan: Plan, kind: str, ref: Any, path: str, name: str | None = None,
           defaults: dict[str, Any] | None = None) -> Any:
    """Instantiate one reference of the plan (a ``use(...)`` or a live object).

    ``defaults`` fill parameters the component accepts and the reference leaves out.

    Raises:
        DeclarationError: naming ``path`` and the component.
    """
    try:
        if not isinstance(ref, Use):
            return instantiate(plan.registry, kind, ref)
        component: Component = plan.component(kind, ref)
        params = dict(ref.params)
        valid = set(component.valid_parameter_names)
        for key, value in (defaults or {}).items():
            if key in valid and key not in params:
                params[key] = _resolve_default(plan, key, value)
        if name is not None and "name" in valid and "name" not in params:
            params["name"] = name
        return component.create(**params)
    except (DeclarationError, PluginError):  # a plugin failing at first use names itself
        raise
    except (KerakitError, ValueError, TypeError) as exc:
        raise DeclarationError(f"{path} ({short(ref)}): {exc}") from exc


def _resolve_default(plan: Plan, key: str, value: Any) -> Any:
    if key == "kernel_initializer":
        return create(plan, "initializers", value, "initializer")
    if key == "dtype":
        return value
    import keras

    return keras.regularizers.get(value)


def _apply(layer: Any, x: Any, path: str, ref: Any) -> Any:
    try:
        return layer(x)
    except Exception as exc:
        raise DeclarationError(
            f"{path} ({short(ref)}) cannot take its input of shape {tuple(x.shape)}: "
            f"{' '.join(str(exc).split())[:400]}"
        ) from exc


def _adapt(layer: Any, data: Any, path: str, ref: Any) -> Any:
    """Adapt ``layer`` if it can, and return ``data`` passed through it."""
    import numpy as np

    if hasattr(layer, "adapt"):
        try:
            layer.adapt(data)
        except Exception as exc:
            raise DeclarationError(f"{path} ({short(ref)}) could not adapt: {exc}") from exc
    if hasattr(data, "map"):  # a tf.data.Dataset of features
        return data.map(lambda batch: layer(batch))
    out = [np.asarray(layer(data[i:i + 4096])) for i in range(0, len(data), 4096)]
    return np.concatenate(out, axis=0)

