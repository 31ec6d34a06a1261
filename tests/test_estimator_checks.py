"""scikit-learn's estimator checks on ``kk.Classifier`` (the regressor's are in
``test_estimator_checks_regressor.py``, so the two run on separate workers).

Every check that scikit-learn yields passes; none is marked as an expected
failure. scikit-learn itself skips two kinds, for reasons outside kerakit:

- ``check_array_api_input``: the estimators take NumPy arrays and DataFrames,
  not array-API namespaces (CuPy, torch); scikit-learn runs it only with
  ``SCIPY_ARRAY_API=1``, for estimators that declare array-API support.
- ``check_sample_weight_equivalence_on_dense_data`` and the other sample-weight
  checks are not yielded: ``fit`` takes no ``sample_weight``.

Each check fits tiny data a few times: the network is one block of 8 units
trained for 1 epoch by ``kk.fit``, in a throw-away run directory.
"""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from kerakit.estimators import Classifier


@parametrize_with_checks([Classifier(epochs=1, blocks__0__units=8)])
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
