"""Hyperparameter placeholders, written inline where a value would go.

Any component parameter, fit setting or component reference may be a
placeholder. Without a tuner each takes its default; :func:`kerakit.tune`
turns the same placeholders into a search space. Names come from where a
placeholder sits (``blocks.0.filters``, ``optimizer``,
``optimizer.adam.learning_rate``) unless given with ``name=``.

Example:
    >>> from kerakit import hp
    >>> hp.Float(1e-4, 1e-2, log=True, default=1e-3).default
    0.001
"""

from kerakit.declaration.values import Boolean, Choice, Float, Int, OneOf, Placeholder, from_dict

__all__ = ["Boolean", "Choice", "Float", "Int", "OneOf", "Placeholder", "from_dict"]
