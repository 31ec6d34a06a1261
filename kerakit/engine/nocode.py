"""No code needed: a default declaration chosen from the user's own data.

``kerakit train --data FILE.csv --target COL`` and ``kerakit train --data
images/`` read the data once (column kinds, task and classes, or the image
folder's classes, size and colour) and fill in
:func:`kerakit.declaration.defaults.table_default` or
:func:`~kerakit.declaration.defaults.image_default`. The result is an ordinary
declaration: printed, written out as ``declaration.json`` or a Python recipe,
edited and rerun.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kerakit.declaration.defaults import as_recipe, image_default, table_default
from kerakit.declaration.model import Model
from kerakit.errors import DataError
from kerakit.sources.formats import is_table_path
from kerakit.sources.source import Source, as_source

__all__ = ["default_for", "write_declaration"]


def default_for(data: Any, target: str | Sequence[str] | None = None, *,
                image_size: tuple[int, int] | None = None) -> tuple[Model, Source]:
    """The default declaration for a table file, a DataFrame or an image folder.

    The data is read once, here: train on the returned source and it is not
    read again.

    Example:
        >>> decl, data = default_for("penguins.csv", "species")  # doctest: +SKIP
        >>> data  # doctest: +SKIP
        Source({'table': 'penguins.csv', 'target': 'species'})

    Args:
        data: A ``.csv``, ``.tsv`` or ``.parquet`` path or a DataFrame (with
            ``target``), or a folder with one subfolder of images per class.
        target: The target column(s) of a table.
        image_size: ``(height, width)`` for images; defaults to the most common size.

    Returns:
        ``(declaration, source)``; :func:`kerakit.fit` takes the source as data.

    Raises:
        DataError: for other data, a table without a target, or data that
            cannot be read (naming the file, column or image).
    """
    from kerakit.data import is_table

    if is_table(data) or is_table_path(data):
        if not target:
            raise DataError("Invalid data: a table needs its target. Expected --target COL "
                            "(target='column'). Received: no target")
        source = as_source(data, target)
        facts = source.facts()
        name = Path(data).stem if isinstance(data, (str, Path)) else "table"
        decl = table_default(facts.task or "regression", facts.columns or {},
                             classes=list(facts.class_names) if facts.class_names else None,
                             outputs=facts.outputs, name=_name(name), rows=facts.rows)
        return decl, source
    if isinstance(data, (str, Path)) and Path(data).is_dir():
        source = as_source(str(data))
        facts = source.facts()
        height, width, channels = facts.input_shape
        decl = image_default(list(facts.class_names), tuple(image_size or (height, width)),
                             channels, name=_name(Path(data).resolve().name))
        return decl, source
    raise DataError(
        "Invalid data for a default declaration. Expected a .csv, .tsv or .parquet file with "
        "--target, or a folder of images with one subfolder per class. Received: "
        f"{data!r}; for other data, write a recipe (kerakit train RECIPE.py)"
    )


def write_declaration(decl: Model, data: Any, path: str | Path) -> Path:
    """Write a declaration with its data: ``.json`` (``kerakit train`` reads it) or ``.py``.

    The JSON form records the data under ``"data"`` beside the declaration,
    so ``kerakit train declaration.json`` reruns it.

    Raises:
        DataError: for a DataFrame, which cannot be written as a reference.
        FileExistsError: if ``path`` exists.
    """
    path = Path(path)
    if isinstance(data, Source):
        if data.reference is None:
            raise DataError("Cannot write a declaration whose data is in memory. Expected a "
                            f"file, folder or dataset name. Received: {data!r}")
        data = data.reference
    if isinstance(data, dict) and not isinstance(data.get("table"), (str, Path)):
        raise DataError("Cannot write a declaration whose data is a DataFrame. Expected a "
                        "table file path. Received: a DataFrame")
    if path.exists():
        raise FileExistsError(f"{str(path)!r} already exists. Expected a new file, so edits "
                              "are never overwritten. Received: an existing file")
    if path.suffix == ".py":
        text = as_recipe(decl, data)
    else:
        text = json.dumps({**decl.to_dict(), "data": data}, indent=2)
    path.write_text(text)
    return path


def _name(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "_-" else "_" for c in text).strip("_")
    return cleaned or "model"
