"""Recipes: declarations kept in files, for the command line.

A recipe is a Python file defining a :class:`kerakit.Model` (and optionally
``data``, a dataset name), or a ``declaration.json`` written by a run.
``path.py:NAME`` picks the variable (or zero-argument function) ``NAME``;
without it, the file's ``model`` or its only declaration is used.
"""

from __future__ import annotations

import json
import runpy
import traceback
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
        DeclarationError: if it holds no declaration, ``NAME`` is not one, or the
            file does not run (a syntax error, or an exception in its code), naming
            the file and line.
    """
    path_text, _, name = spec.partition(":") if not Path(spec).exists() else (spec, "", "")
    path = Path(path_text)
    if not path.is_file():
        raise FileNotFoundError(f"Recipe not found: {path_text!r}. Expected a .py or .json file.")
    if path.suffix == ".json":
        decl = _from_json(path)
        document = json.loads(path.read_text())  # a no-code default records its data here
        return decl, document.get("data") if isinstance(document, dict) else None
    namespace = _run(path)
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


def _run(path: Path) -> dict[str, Any]:
    """Run the recipe file; its own mistakes become one message naming the file and line."""
    try:
        return runpy.run_path(str(path), run_name="kerakit_recipe")
    except DeclarationError:
        raise
    except SyntaxError as exc:
        raise DeclarationError(
            f"Invalid recipe {str(path)!r}: syntax error at line {exc.lineno}: {exc.msg}. "
            "Expected a Python file defining a kerakit.Model."
        ) from exc
    except Exception as exc:
        line = _line_in(path, exc)
        where = f" at line {line}" if line else ""
        raise DeclarationError(
            f"Recipe {str(path)!r} failed{where}: {type(exc).__name__}: {exc}"
        ) from exc


def _line_in(path: Path, exc: BaseException) -> int | None:
    """The last line of ``path`` in the exception's traceback."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if Path(f.filename).resolve() == path.resolve()]
    return frames[-1].lineno if frames else None


def _from_json(path: Path) -> Model:
    try:
        document = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DeclarationError(f"Invalid recipe {str(path)!r}: not valid JSON ({exc}). "
                               "Expected a declaration.json written by a run.") from exc
    if not isinstance(document, dict):
        raise DeclarationError(f"Invalid recipe {str(path)!r}. Expected a JSON object (a "
                               f"declaration). Received: a JSON {type(document).__name__}")
    try:
        return Model.from_dict(document)
    except DeclarationError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise DeclarationError(f"Invalid recipe {str(path)!r}: {type(exc).__name__}: {exc}. "
                               "Expected a declaration.json written by a run.") from exc


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
