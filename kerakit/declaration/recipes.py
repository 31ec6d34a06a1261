"""Recipes: declarations kept in files, for the command line.

A recipe is a Python file defining a :class:`kerakit.Model` (and optionally
``data``, a dataset name), or a ``declaration.json`` written by a run.
``path.py:NAME`` picks the variable (or zero-argument function) ``NAME``;
without it, the file's ``model`` or its only declaration is used.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

from kerakit.declaration.model import Model
from kerakit.errors import DeclarationError


def load_recipe(spec: str) -> tuple[Model, Any]:
    """Load ``path.py[:NAME]`` or ``path.json``.

    Returns:
        ``(declaration, data)``, where ``data`` is the recipe's ``data`` or ``None``.

    Raises:
        FileNotFoundError: if the file does not exist.
        DeclarationError: if it holds no declaration, or ``NAME`` is not one.
    """
    path_text, _, name = spec.partition(":") if not Path(spec).exists() else (spec, "", "")
    path = Path(path_text)
    if not path.is_file():
        raise FileNotFoundError(f"Recipe not found: {path_text!r}. Expected a .py or .json file.")
    if path.suffix == ".json":
        return Model.from_dict(json.loads(path.read_text())), None
    namespace = runpy.run_path(str(path), run_name="kerakit_recipe")
    data = namespace.get("data")
    if name:
        if name not in namespace:
            raise DeclarationError(
                f"Recipe {path_text!r} has no `{name}`. Expected one of its declarations: "
                f"{', '.join(_declarations(namespace)) or '(none)'}. Received: {name!r}"
            )
        return _as_model(namespace[name], f"{path_text}:{name}"), data
    found = _declarations(namespace)
    if "model" in found:
        return namespace["model"], data
    if len(found) == 1:
        return namespace[found[0]], data
    raise DeclarationError(
        f"Recipe {path_text!r} must define one kerakit.Model (or one named `model`). "
        f"Expected one. Received: {len(found)} ({', '.join(found)}); pick one with "
        f"{path_text}:NAME"
    )


def _declarations(namespace: dict[str, Any]) -> list[str]:
    return [k for k, v in namespace.items() if isinstance(v, Model) and not k.startswith("_")]


def _as_model(value: Any, where: str) -> Model:
    if callable(value) and not isinstance(value, Model):
        value = value()
    if not isinstance(value, Model):
        raise DeclarationError(
            f"Invalid recipe {where!r}. Expected a kerakit.Model or a function returning one. "
            f"Received: {type(value).__name__}"
        )
    return value
