"""Data and declaration made ready together: read once, planned from the facts, split, checked.

``kk.fit``, ``kk.load_data`` and tuning start here: the data is read once,
the declaration is planned once from the data's facts (a table's columns
enter it; the head is checked against the classes), then the data is split
the way the plan says and checked against it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from kerakit.data import Dataset, Streams
from kerakit.declaration.model import Model, Sampler
from kerakit.engine import inputs
from kerakit.engine.plan import Plan, plan
from kerakit.registry.table import Registry
from kerakit.sources.source import as_source

__all__ = ["prepare"]


def prepare(
    data: Any,
    decl: Model | Plan,
    sampler: Sampler | None = None,
    *,
    target: str | Sequence[str] | None = None,
    in_memory: bool = False,
    registry: Registry | None = None,
    **overrides: Any,
) -> tuple[Plan, Dataset | Streams]:
    """Read ``data`` once, plan the declaration from its facts, split and check it.

    Args:
        data: Anything :class:`~kerakit.sources.source.Source` reads, or a source.
        decl: The declaration (a :class:`Plan` is planned again from its source).
        sampler: Chooses placeholder values; ``None`` takes the defaults.
        target: The target column(s) of a table.
        in_memory: Load an image folder into arrays instead of streaming it.
        registry: The registry to resolve against.
        **overrides: Declaration fields to change first, as for :func:`plan`.

    Returns:
        ``(plan, data)``: the plan to train, and the data split and checked.

    Raises:
        DeclarationError: for unknown components, parameters or fields.
        DataError: for data that cannot be read or does not fit the declaration.

    Example:
        >>> import kerakit as kk
        >>> decl = kk.Model((4,), ["dense_block"], kk.use("classifier", classes=3))
        >>> the_plan, data = prepare("iris", decl)
        >>> data.x_train.shape[1:]
        (4,)
    """
    if isinstance(decl, Plan):
        registry = registry or decl.registry
        decl = decl.source
    columns = overrides.get("columns") or getattr(decl, "columns", None)
    source = as_source(data, target, columns=columns or None, registry=registry)
    declared_split = overrides.get("validation_split", getattr(decl, "validation_split", None))
    val_size = float(declared_split) if isinstance(declared_split, (int, float)) else 0.15
    planned = plan(decl, sampler, registry=registry, facts=source.facts(val_size), **overrides)
    concrete, head = planned.declaration, planned.head
    dataset = source.dataset(
        val_size=float(concrete.validation_split), task=head.task,
        class_names=head.class_names, classes=head.classes,
        image_size=inputs.image_size_of(concrete), batch_size=int(concrete.batch_size),
        seed=int(concrete.seed or 0), in_memory=in_memory)
    dataset = inputs.shape_targets(dataset, planned)
    inputs.check_data(planned, dataset)
    inputs.class_weights(planned, dataset)  # a weight for an unknown class fails here, early
    advice = inputs.rare_class_warning(planned, dataset)
    if advice:
        warnings.warn(advice, stacklevel=2)
    return planned, dataset
