"""The declaration's field metadata: what each field holds and how it is checked.

A field of :class:`~kerakit.declaration.model.Model` is made by
:func:`component_field` (one component reference of a kind, or a list of them)
or :func:`setting_field` (a plain value with its checker; a fit setting when
its group is ``"fit"``). Serialising, walking, checking and ``repr`` read this
metadata, so a new field is one line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any

from kerakit.declaration.values import Placeholder
from kerakit.errors import DeclarationError

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")

__all__ = ["PRECISIONS", "component_field", "component_fields", "setting_field",
           "setting_fields"]


def component_fields(decl: Any) -> list[dataclasses.Field]:
    """The fields of a declaration (or its class) that hold component references."""
    return [f for f in dataclasses.fields(decl) if "kind" in f.metadata]


def setting_fields(decl: Any) -> list[dataclasses.Field]:
    """The plain-value fields of a declaration or its class (fit settings, name, regularizer)."""
    return [f for f in dataclasses.fields(decl) if "check" in f.metadata]


def positive_int(name: str, value: Any) -> None:
    if isinstance(value, Placeholder):
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DeclarationError(f"Invalid `{name}`. Expected an int >= 1. "
                               f"Received: {name}={value!r}")


def fraction(name: str, value: Any) -> None:
    if isinstance(value, Placeholder):
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise DeclarationError(f"Invalid `{name}`. Expected a number in [0, 1). "
                               f"Received: {name}={value!r}")


def seed(name: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise DeclarationError(f"Invalid `{name}`. Expected None or an int >= 0. "
                               f"Received: {name}={value!r}")


def precision(name: str, value: Any) -> None:
    if not (value is None or value in PRECISIONS or isinstance(value, Placeholder)):
        raise DeclarationError(f"Invalid `{name}`. Expected None or one of: "
                               f"{', '.join(PRECISIONS)}. Received: {name}={value!r}")


def names(name: str, value: Any) -> None:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(
            isinstance(v, str) and v for v in value):
        raise DeclarationError(f"Invalid `{name}`. Expected a list of names such as "
                               f"['mlflow']. Received: {name}={value!r}")


def text(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise DeclarationError(f"Invalid `{name}`. Expected a non-empty string. "
                               f"Received: {name}={value!r}")


def columns(name: str, value: Any) -> None:
    kinds = ("numeric", "categorical", "ignore")
    if value is not None and not (isinstance(value, Mapping) and all(
            isinstance(k, str) and v in kinds for k, v in value.items())):
        raise DeclarationError(f"Invalid `{name}`. Expected None or a dict of column name to "
                               f"one of {kinds}. Received: {name}={value!r}")


def flag(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise DeclarationError(f"Invalid `{name}`. Expected True or False. "
                               f"Received: {name}={value!r}")


def class_weight(name: str, value: Any) -> None:
    valid = value is None or value == "balanced" or (isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
        and v > 0 for k, v in value.items()))
    if not valid:
        raise DeclarationError(f"Invalid `{name}`. Expected None, 'balanced' or a dict of "
                               f"class name to a positive weight. Received: {name}={value!r}")


def component_field(kind: str, *, many: bool = False, default: Any = None) -> Any:
    """A field holding one component reference, or a list of them, of ``kind``."""
    meta = {"kind": kind, "many": many}
    return field(default_factory=list, metadata=meta) if many else \
        field(default=default, metadata=meta)


def setting_field(default: Any, checker: Callable[[str, Any], None] | None = None, *,
                  group: str | None = "fit") -> Any:
    """A plain value (a fit setting when ``group="fit"``), checked by ``checker``."""
    return field(default=default, metadata={"check": checker, "group": group})
