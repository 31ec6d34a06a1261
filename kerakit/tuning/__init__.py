"""Hyperparameter search: the tuner-engine contract, the KerasTuner engine, workers.

The public names, for engine authors and users; everything else in this
package is internal. They are resolved lazily, so that importing the package
(as ``kerakit tune --help`` does) loads no Keras.

Example:
    >>> from kerakit.tuning import SearchOptions, direction
    >>> direction("val_loss"), SearchOptions().max_trials
    ('min', 10)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kerakit.tuning.checked_search import Search
    from kerakit.tuning.contract import TunerEngine
    from kerakit.tuning.engines import tuner_engines
    from kerakit.tuning.objective import direction
    from kerakit.tuning.options import SearchOptions
    from kerakit.tuning.result import TuneResult
    from kerakit.tuning.trial import TrialFailed, cv_columns, train_trial

__all__ = [
    "Search",
    "SearchOptions",
    "TrialFailed",
    "TuneResult",
    "TunerEngine",
    "cv_columns",
    "direction",
    "train_trial",
    "tuner_engines",
]

# public name -> the module that defines it
_LAZY = {
    "Search": "kerakit.tuning.checked_search",
    "SearchOptions": "kerakit.tuning.options",
    "TuneResult": "kerakit.tuning.result",
    "TrialFailed": "kerakit.tuning.trial",
    "TunerEngine": "kerakit.tuning.contract",
    "direction": "kerakit.tuning.objective",
    "cv_columns": "kerakit.tuning.trial",
    "train_trial": "kerakit.tuning.trial",
    "tuner_engines": "kerakit.tuning.engines",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kerakit.tuning' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
