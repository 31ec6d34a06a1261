"""The embedded default: a small CNN on ``digits``, and its search space.

``kerakit train`` with no recipe trains it; ``kerakit tune`` searches the
placeholders. Without a tuner every placeholder takes its default, which is
the configuration measured in ``docs/performance.md``.
"""

from __future__ import annotations

from typing import Any

from kerakit import hp
from kerakit.declaration.model import Input, Model, use

DEFAULT_DATA = "digits"


def digits_cnn() -> Model:
    """Standardise, lightly augment, two conv stages, Adam, cross-entropy, early stopping."""
    return Model(
        name="digits_cnn",
        inputs=Input(shape=(8, 8, 1)),
        preprocess=["standardize"],
        augment=[
            use("random_rotation", factor=0.03),
            use("random_translation", height_factor=0.08, width_factor=0.08),
            use("random_zoom", height_factor=0.05),
            use("gaussian_noise", stddev=0.02),
        ],
        blocks=[
            use("conv_block", filters=hp.Choice([16, 32, 48], default=32), convs=2),
            use("conv_block", filters=hp.Choice([32, 64, 96], default=64), convs=2),
            "global_avg_pool",
            use("dropout", rate=hp.Float(0.0, 0.5, step=0.1, default=0.3)),
        ],
        head=use("classifier", classes=10, class_names=[str(i) for i in range(10)]),
        loss="sparse_categorical_crossentropy",
        optimizer=use("adam", learning_rate=hp.Float(3e-4, 3e-3, log=True, default=1e-3)),
        metrics=["accuracy"],
        callbacks=[use("early_stopping", patience=12)],
        epochs=80,
        batch_size=hp.Choice([32, 64], default=32),
        validation_split=0.15,
        seed=0,
    )


# -- no-code defaults for your own data ------------------------------------------------


SMALL_TABLE_ROWS = 1000
"""Below this many rows, the table default is compact and weight-decayed (see below)."""


def table_default(task: str, columns: dict[str, str], *, classes: list[str] | None = None,
                  outputs: int = 1, name: str = "table", rows: int | None = None) -> Model:
    """The default declaration for a table: encoded columns, dense blocks, a head by task.

    The columns are encoded inside the model (see ``docs/data.md``); the
    placeholders are what ``kerakit tune --data FILE --target COL`` searches.

    A table of fewer than :data:`SMALL_TABLE_ROWS` rows gets a compact network:
    one block of 32 units, L2 weight decay on every kernel (the head's too) and
    a faster learning rate. Two wide blocks overfit a few hundred rows before
    early stopping can help: on ``breast_cancer`` (569 rows) they score 0.939
    against 0.974 for the compact network (``docs/performance.md``).

    Example:
        >>> decl = table_default("classification", {"island": "categorical",
        ...                                          "bill_length_mm": "numeric"},
        ...                      classes=["Adelie", "Gentoo"])
        >>> decl.head
        use('classifier', classes=2, class_names=['Adelie', 'Gentoo'])

    Args:
        task: ``"classification"`` or ``"regression"``.
        columns: Each raw column's kind, as :func:`kerakit.sources.tables.infer_columns` gives.
        classes: The class names, for classification.
        outputs: Number of targets, for regression.
        name: The declaration's name.
        rows: The table's number of rows (``None``: treated as large).

    Returns:
        A :class:`~kerakit.Model`.
    """
    small = rows is not None and rows < SMALL_TABLE_ROWS
    # Keras' own serialised form, so declaration.json and recipes carry it as is
    decay = {"kernel_regularizer": {"class_name": "L2", "config": {"l2": 0.003}}} \
        if small else {}
    head = use("classifier", classes=len(classes), class_names=list(classes), **decay) \
        if task == "classification" else use("regressor", units=outputs, **decay)
    if small:
        blocks = [use("dense_block", units=hp.Choice([16, 32, 64], default=32),
                      l2=hp.Choice([0.001, 0.003, 0.01], default=0.003))]
        learning_rate = hp.Float(1e-3, 1e-2, log=True, default=3e-3)
    else:
        blocks = [use("dense_block", units=hp.Choice([64, 128, 256], default=128),
                      dropout=hp.Float(0.0, 0.5, step=0.1, default=0.2)),
                  use("dense_block", units=hp.Choice([32, 64, 128], default=64),
                      dropout=hp.Float(0.0, 0.5, step=0.1, default=0.2))]
        learning_rate = hp.Float(3e-4, 3e-3, log=True, default=1e-3)
    return Model(
        name=name,
        inputs=Input(shape=(None,), name="columns"),
        columns=dict(columns),
        blocks=blocks,
        head=head,
        optimizer=use("adam", learning_rate=learning_rate),
        callbacks=[use("early_stopping", patience=20)],
        epochs=300,
        batch_size=hp.Choice([16, 32, 64], default=32),
        validation_split=0.15,
        seed=0,
    )


def image_default(classes: list[str], image_size: tuple[int, int], channels: int, *,
                  name: str = "images") -> Model:
    """The default declaration for an image folder: a small CNN, resizing and rescaling inside.

    The model takes images of any size; it resizes them to ``image_size``,
    scales pixels to [0, 1] and lightly augments them in training only. A
    third conv stage is added for images of 32 pixels or more.

    Example:
        >>> image_default(["cat", "dog"], (64, 64), 3).preprocess
        [use('resize', height=64, width=64), 'rescale']

    Args:
        classes: The class names (the subfolders).
        image_size: ``(height, width)`` the model works at.
        channels: 1 for greyscale, 3 for colour.
        name: The declaration's name.

    Returns:
        A :class:`~kerakit.Model`.
    """
    height, width = image_size
    stages = [use("conv_block", filters=hp.Choice([16, 32, 48], default=32), convs=2),
              use("conv_block", filters=hp.Choice([32, 64, 96], default=64), convs=2)]
    if min(height, width) >= 32:
        stages.append(use("conv_block", filters=128, convs=2))
    return Model(
        name=name,
        inputs=Input(shape=(None, None, channels)),
        preprocess=[use("resize", height=height, width=width), use("rescale")],
        augment=[
            use("random_rotation", factor=0.03),
            use("random_translation", height_factor=0.08, width_factor=0.08),
            use("random_zoom", height_factor=0.05),
        ],
        blocks=[*stages, "global_avg_pool",
                use("dropout", rate=hp.Float(0.0, 0.5, step=0.1, default=0.3))],
        head=use("classifier", classes=len(classes), class_names=list(classes)),
        optimizer=use("adam", learning_rate=hp.Float(3e-4, 3e-3, log=True, default=1e-3)),
        callbacks=[use("early_stopping", patience=12)],
        epochs=80,
        batch_size=hp.Choice([32, 64], default=32),
        validation_split=0.15,
        seed=0,
    )


def as_recipe(decl: Model, data: Any = None) -> str:
    """A declaration as an editable Python recipe (``kerakit train recipe.py`` runs it).

    Example:
        >>> print(as_recipe(digits_cnn(), "digits").splitlines()[0])
        \"\"\"A kerakit recipe: edit it, then run `kerakit train THIS_FILE.py`.\"\"\"

    Args:
        decl: The declaration.
        data: What the recipe trains on, recorded as its ``data`` (a dataset name,
            a path, or ``{"table": PATH, "target": COLUMN}``).

    Returns:
        The recipe's source.
    """
    lines = ['"""A kerakit recipe: edit it, then run `kerakit train THIS_FILE.py`."""', "",
             "import kerakit as kk", "from kerakit import hp  # noqa: F401", "",
             f"model = kk.{_source(decl)}", ""]
    if data is not None:
        lines += [f"data = {data!r}", ""]
    return "\n".join(lines)


def _source(decl: Model) -> str:
    """``Model(...)``, one field per line, in the form a user writes it."""
    import dataclasses

    fields = []
    for f in dataclasses.fields(decl):
        if f.name == "_":
            continue
        value = getattr(decl, f.name)
        if value == f.default or (f.default_factory is not dataclasses.MISSING  # type: ignore[misc]
                                  and value == f.default_factory()):
            continue
        fields.append(f"    {f.name}={_value(value)},")
    return "Model(\n" + "\n".join(fields) + "\n)"


def _value(value: Any) -> str:
    if isinstance(value, list) and len(value) > 1:
        return "[\n" + "".join(f"        {_value(v)},\n" for v in value) + "    ]"
    text = repr(value)
    # the declaration's reprs name things as kerakit exports them
    for word in ("use(", "Input(", "Choice(", "Float(", "Int(", "Boolean(", "OneOf("):
        prefix = "kk." if word in ("use(", "Input(") else "hp."
        text = text.replace(f"{word}", f"{prefix}{word}").replace(f"{prefix}{prefix}", prefix)
    return text
