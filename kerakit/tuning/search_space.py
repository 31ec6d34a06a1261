"""Placeholders -> KerasTuner hyperparameters, with conditional scopes for choices."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from kerakit import hp as kk_hp
from kerakit.declaration.model import Model, Sampler
from kerakit.errors import DeclarationError


class TunerSampler(Sampler):
    """Draws each placeholder from a ``keras_tuner.HyperParameters``.

    A choice between components becomes ``hp.Choice`` over the options' labels;
    the chosen option's own placeholders are declared inside
    ``hp.conditional_scope``, so they are active only when it is chosen.
    Asking again for a name returns the value already drawn.
    """

    def __init__(self, hp: Any) -> None:
        self.hp = hp

    def value(self, name: str, placeholder: kk_hp.Placeholder) -> Any:
        hp = self.hp
        if isinstance(placeholder, kk_hp.OneOf):
            return hp.Choice(name, placeholder.labels, default=placeholder.default)
        if isinstance(placeholder, kk_hp.Int):
            return hp.Int(name, placeholder.min_value, placeholder.max_value, step=placeholder.step,
                          sampling="log" if placeholder.log else "linear",
                          default=placeholder.default)
        if isinstance(placeholder, kk_hp.Float):
            return hp.Float(name, placeholder.min_value, placeholder.max_value,
                            step=placeholder.step, sampling="log" if placeholder.log else "linear",
                            default=placeholder.default)
        if isinstance(placeholder, kk_hp.Choice):
            return hp.Choice(name, placeholder.values, default=placeholder.default)
        if isinstance(placeholder, kk_hp.Boolean):
            return hp.Boolean(name, default=placeholder.default)
        raise DeclarationError(f"Unknown placeholder type. Received: {placeholder!r}")

    @contextlib.contextmanager
    def scope(self, name: str, label: str) -> Iterator[None]:
        with self.hp.conditional_scope(name, [label]):
            yield


def check_search_space(decl: Model, tuner: str) -> dict[str, kk_hp.Placeholder]:
    """The declaration's placeholders, checked for the chosen tuner.

    Raises:
        DeclarationError: for an empty search space, or a continuous range in a
            grid search.
    """
    space = decl.hyperparameters()
    if not space:
        raise DeclarationError(
            "Nothing to tune: the declaration has no hyperparameters. Expected at least one "
            "placeholder (hp.Int, hp.Float, hp.Choice, hp.Boolean or hp.OneOf) in a component "
            "parameter, a component choice, or `epochs` / `batch_size`."
        )
    if tuner == "grid":
        for name, placeholder in space.items():
            if isinstance(placeholder, kk_hp.Float) and not placeholder.step:
                raise DeclarationError(
                    f"Grid search cannot enumerate the continuous range `{name}` ({placeholder!r})."
                    " Expected a finite set: give hp.Float a `step`, use hp.Choice, or choose "
                    "tuner='random', 'bayesian' or 'hyperband'."
                )
    return space
