"""scikit-learn's estimator checks on ``kk.Regressor``; see ``test_estimator_checks.py``."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from kerakit.estimators import Regressor


@parametrize_with_checks([Regressor(epochs=1, blocks__0__units=8)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
