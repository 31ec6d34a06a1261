"""Placeholders -> Optuna distributions: the same search space as the KerasTuner engine.

Each placeholder becomes one ``trial.suggest_*`` call under its kerakit name
(``blocks.0.filters``, ``optimizer``, ``optimizer.adam.learning_rate``). A
choice between components (``hp.OneOf``) is a categorical over its option
labels; only the chosen option is walked, so its own placeholders are
suggested only when it is chosen, as KerasTuner's conditional scopes make them
active only then.
"""

from __future__ import annotations

import math
from typing import Any

from kerakit import Sampler
from kerakit import hp as kk_hp
from kerakit.errors import DeclarationError


def distribution(placeholder: kk_hp.Placeholder) -> Any:
    """The Optuna distribution with the same values as KerasTuner's hyperparameter.

    KerasTuner spaces a stepped log range multiplicatively (``min * step**k``);
    Optuna has no such range, so those become a categorical over the same values.
    """
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    p = placeholder
    if isinstance(p, kk_hp.OneOf):
        return CategoricalDistribution(list(p.labels))
    if isinstance(p, kk_hp.Boolean):
        return CategoricalDistribution([False, True])
    if isinstance(p, kk_hp.Choice):
        return CategoricalDistribution(list(p.values))
    if isinstance(p, kk_hp.Int):
        if p.log and p.step not in (None, 1):
            return CategoricalDistribution(_log_steps(p.min_value, p.max_value, p.step, int))
        return IntDistribution(p.min_value, p.max_value, log=p.log, step=p.step or 1)
    if isinstance(p, kk_hp.Float):
        if p.step and p.log:
            return CategoricalDistribution(_log_steps(p.min_value, p.max_value, p.step, float))
        if p.step:
            return FloatDistribution(p.min_value, p.max_value, step=p.step)
        return FloatDistribution(p.min_value, p.max_value, log=p.log)
    raise DeclarationError(f"Unknown placeholder type. Received: {placeholder!r}")


def grid_values(placeholder: kk_hp.Placeholder) -> list[Any]:
    """Every value of a finite placeholder, for Optuna's GridSampler.

    Raises:
        DeclarationError: for a continuous range.
    """
    from optuna.distributions import CategoricalDistribution, IntDistribution

    dist = distribution(placeholder)
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, IntDistribution) and not dist.log:
        return list(range(dist.low, dist.high + 1, dist.step))
    if getattr(dist, "step", None):
        count = math.floor((dist.high - dist.low) / dist.step + 1e-9) + 1
        return [round(dist.low + k * dist.step, 12) for k in range(count)]
    raise DeclarationError(f"Grid search cannot enumerate {placeholder!r}. Expected a finite "
                           f"set: a step, hp.Choice or hp.Int. Received: {placeholder!r}")


def _log_steps(low: float, high: float, step: float, kind: type) -> list[Any]:
    values, value = [], low
    while value <= high * (1 + 1e-9):
        values.append(kind(round(value, 12)))
        value *= step
    return values


class OptunaSampler(Sampler):
    """Draws each placeholder from an Optuna trial, once per name."""

    def __init__(self, trial: Any) -> None:
        self.trial = trial

    def value(self, name: str, placeholder: kk_hp.Placeholder) -> Any:
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        dist = distribution(placeholder)
        if isinstance(dist, CategoricalDistribution):
            return self.trial.suggest_categorical(name, dist.choices)
        if isinstance(dist, IntDistribution):
            return self.trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
        if isinstance(dist, FloatDistribution):
            return self.trial.suggest_float(name, dist.low, dist.high, step=dist.step,
                                            log=dist.log)
        raise DeclarationError(f"Unknown distribution. Received: {dist!r}")
