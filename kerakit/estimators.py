"""scikit-learn estimators: a declaration as a ``Classifier`` or a ``Regressor``.

Both build on Keras' own wrappers (``keras.wrappers.SKLearnClassifier`` and
``SKLearnRegressor``): their target encoding, tags, scoring and metadata
routing are Keras'; what kerakit adds is the model (a declaration trained by
:func:`kerakit.fit`), the placeholders as estimator parameters and tables
with raw columns. See ``docs/estimators.md``.

Parameter naming: a placeholder's dotted name with ``__`` for each dot, so
``blocks.0.units`` is the parameter ``blocks__0__units`` and
``optimizer.adam.learning_rate`` is ``optimizer__adam__learning_rate``.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from kerakit.data import Dataset, is_table
from kerakit.declaration.defaults import table_default
from kerakit.declaration.model import FixedSampler, Model
from kerakit.errors import UsageError
from kerakit.estimator_data import encode_features, frame_of, split_rows, table_kinds

__all__ = ["Classifier", "Regressor"]

#: Estimator parameters that are not placeholders; a placeholder of the same
#: name (``batch_size`` in the table default) is set through them.
SETTINGS = ("model", "epochs", "batch_size", "validation_split", "random_state", "verbose",
            "track")


def param_name(dotted: str) -> str:
    """A placeholder's estimator parameter: ``blocks.0.units`` -> ``blocks__0__units``."""
    return dotted.replace(".", "__")


class _Estimator:
    """What a classifier and a regressor share: parameters, fitting, pickling."""

    _task = "regression"
    # from Keras' wrapper, later in the method resolution order
    _process_target: Any
    _reverse_process_target: Any

    def __init__(self, model: Model | None = None, *, epochs: int | None = None,
                 batch_size: int | None = None, validation_split: float | None = None,
                 random_state: int | None = None, verbose: int | str = 0,
                 track: Sequence[str] = (), **hyperparameters: Any) -> None:
        self.model = model
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_split = validation_split
        self.random_state = random_state
        self.verbose = verbose
        self.track = track
        self._values: dict[str, Any] = {}
        self._set_values(hyperparameters)

    # -- parameters ------------------------------------------------------------------

    def _declaration(self, kinds: dict[str, str] | None = None,
                     classes: list[str] | None = None, outputs: int = 1) -> Model:
        """The declaration trained: the given one, or the table default for the data."""
        if self.model is not None:
            if not isinstance(self.model, Model):
                raise UsageError("Invalid value for argument `model`. Expected a kerakit "
                                 "declaration (kk.Model(...)) or None for the table default. "
                                 f"Received: model={self.model!r}")
            return self.model
        # a compact network whatever the size: its placeholders must not depend on the data
        return table_default(self._task, dict(kinds or {}), classes=classes or ["0", "1"],
                             outputs=outputs, name="estimator", rows=0)

    def _placeholders(self) -> dict[str, Any]:
        """Each placeholder of the declaration by parameter name, settings left out."""
        if self.model is not None and not isinstance(self.model, Model):
            return {}  # fit says why: scikit-learn validates nothing before fit
        found = self._declaration().hyperparameters()
        return {param_name(k): v for k, v in found.items() if param_name(k) not in SETTINGS}

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The settings, then each placeholder (its value, else its default).

        Example:
            >>> Classifier().get_params()["blocks__0__units"]
            32
        """
        params = BaseEstimator.get_params(self, deep=deep)
        for name, placeholder in self._placeholders().items():
            params[name] = placeholder.default
        params.update(self._values)  # unknown names too, so clone keeps them for fit to refuse
        return params

    def set_params(self, **params: Any) -> _Estimator:
        """Set settings and placeholders by parameter name.

        Names are checked by ``fit``, as scikit-learn asks of estimators.
        """
        if "model" in params:
            self.model = params.pop("model")
        self._set_values({k: v for k, v in params.items() if k not in SETTINGS})
        for name in SETTINGS:
            if name in params:
                setattr(self, name, params[name])
        return self

    def _set_values(self, values: dict[str, Any]) -> None:
        self._values.update(values)

    def _check_values(self) -> None:
        """Refuse a parameter that is no placeholder of the declaration (checked at fit)."""
        known = self._placeholders()
        unknown = sorted(set(self._values) - set(known))
        if unknown:
            raise UsageError(
                f"Invalid parameter `{unknown[0]}` for {type(self).__name__}. Expected a "
                f"setting ({', '.join(SETTINGS)}) or a placeholder of the declaration "
                f"({', '.join(sorted(known)) or 'none'}). Received: {unknown[0]}="
                f"{self._values[unknown[0]]!r}")

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        # Keras' wrapper says non-deterministic; kk.fit seeds everything from random_state
        tags.non_deterministic = False
        return tags

    def __sklearn_clone__(self) -> Any:
        # Keras' wrapper clones only its own parameters; these are every parameter
        return BaseEstimator.__sklearn_clone__(self)

    # -- fitting ---------------------------------------------------------------------

    def fit(self, X: Any, y: Any, **kwargs: Any) -> _Estimator:
        """Train on ``X`` (an array, or a DataFrame with raw columns) and ``y``.

        Args:
            X: Features: ``(n_samples, n_features)`` numbers, or a DataFrame.
            y: Targets: class labels, or numbers for a regressor.
            **kwargs: Passed to :func:`kerakit.fit` (``callbacks``, ``distribute``).

        Returns:
            The estimator.

        Raises:
            UsageError: for a parameter that names no placeholder of the declaration,
                or a ``model`` that is not a declaration.
        """
        from kerakit.runs.train import fit

        self._declaration()  # a bad `model` fails before the data is looked at
        self._check_values()
        X, y = self._check_fit_data(X, y)
        targets = self._process_target(y, reset=True)
        decl, dataset = self._dataset(X, targets)
        values = {k: self._values.get(param_name(k), p.default)
                  for k, p in decl.hyperparameters().items()}
        # a throw-away run directory: an estimator leaves no files behind
        with tempfile.TemporaryDirectory(prefix="kerakit-estimator-") as folder:
            run = fit(decl, dataset, out=Path(folder) / "run", verbose=self.verbose,
                      epochs=self.epochs, batch_size=self.batch_size, seed=self.random_state,
                      sampler=FixedSampler(values), track=self.track, **kwargs)
            self._model_file = (Path(folder) / "run" / "model.keras").read_bytes()
        self.model_ = run.model
        self.history_ = run.history
        self.declaration_ = run.declaration
        self.best_epoch_ = run.best_epoch
        return self

    def _check_fit_data(self, X: Any, y: Any) -> tuple[Any, np.ndarray]:
        if is_table(X):
            validate_data(self, X, reset=True, skip_check_array=True)
            y = np.asarray(y)
            if len(y) != len(X):
                raise ValueError(f"Found input variables with inconsistent numbers of samples: "
                                 f"[{len(X)}, {len(y)}]")
            return X, y
        X, y = validate_data(self, X, y, dtype="float32",
                             multi_output=self._task == "regression", y_numeric=False)
        return X, y

    def _dataset(self, X: Any, targets: np.ndarray) -> tuple[Model, Dataset]:
        """The declaration completed for the data, and its train / validation splits."""
        classes = [str(c) for c in getattr(self, "classes_", [])] or None
        y = targets.argmax(axis=1) if self._task == "classification" else \
            targets.astype("float32")
        outputs = 1 if y.ndim == 1 else y.shape[1]
        y = y[:, 0] if y.ndim == 2 and outputs == 1 else y
        tabular = is_table(X) or self.model is None or bool(getattr(self.model, "columns", None))
        declared = getattr(self.model, "columns", None) or None
        self.columns_ = table_kinds(frame_of(X, self), numeric=not is_table(X),
                                    overrides=declared) if tabular else None
        decl = self._declaration(self.columns_, classes, outputs)
        x = encode_features(X, self.columns_, self)
        fraction = self.validation_split if self.validation_split is not None else (
            decl.validation_split if isinstance(decl.validation_split, float) else 0.15)
        train, val = split_rows(len(y), fraction, self.random_state or 0,
                                y if self._task == "classification" else None)
        take = (lambda rows: x.iloc[rows].reset_index(drop=True)) if is_table(x) else \
            (lambda rows: x[rows])
        dataset = Dataset("estimator", take(train), y[train], take(val), y[val], take([]),
                          y[:0], task=self._task, class_names=classes,
                          feature_names=list(self.columns_) if self.columns_ else None,
                          columns=self.columns_)
        return decl, dataset

    # -- predicting ------------------------------------------------------------------

    def _outputs(self, X: Any) -> np.ndarray:
        """The model's outputs for ``X``, checked like the training features."""
        from kerakit.engine.inputs import model_x

        check_is_fitted(self)
        if is_table(X):
            validate_data(self, X, reset=False, skip_check_array=True)
        else:
            X = validate_data(self, X, reset=False, dtype="float32")
        x = model_x(encode_features(X, self.columns_, self))
        # scikit-learn's scorers and checks expect float64, as its own estimators give
        return np.asarray(self.model_.predict(x, verbose=0), dtype="float64")

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels (a classifier) or values (a regressor) for ``X``."""
        return self._reverse_process_target(self._outputs(X))

    # -- pickling: through the .keras format --------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("model_", None)  # rebuilt from the .keras bytes, with its plugins
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "_model_file" in state:
            self.model_ = _load_model(state["_model_file"])


def _load_model(data: bytes) -> Any:
    """A ``keras.Model`` from ``.keras`` bytes, loaded by :func:`kerakit.load` (safe mode)."""
    from kerakit.engine.saving import load

    zipfile.ZipFile(io.BytesIO(data)).testzip()  # a damaged pickle fails here, by name
    with tempfile.TemporaryDirectory(prefix="kerakit-estimator-") as folder:
        path = Path(folder) / "model.keras"
        path.write_bytes(data)
        return load(path)


class Classifier(_Estimator, keras.wrappers.SKLearnClassifier):
    """A declaration as a scikit-learn classifier, trained by :func:`kerakit.fit`.

    Example:
        >>> from sklearn.datasets import load_iris
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = Classifier(epochs=2, blocks__0__units=8).fit(X, y)  # doctest: +SKIP
        >>> clf.predict(X[:2]).shape  # doctest: +SKIP
        (2,)

    Args:
        model: A declaration whose head is a ``classifier`` with as many
            classes as ``y`` has; ``None`` (the default) takes the table
            default (``kk.default_for``'s compact network), completed from
            the data at fit time: any number of features, raw DataFrame
            columns included.
        epochs: Overrides the declaration's.
        batch_size: Overrides the declaration's (or sets its placeholder).
        validation_split: Fraction of the rows held out for early stopping and
            the best epoch; defaults to the declaration's.
        random_state: The seed (weights, shuffling, the validation rows);
            defaults to the declaration's.
        verbose: Passed to Keras ``fit``.
        track: Experiment trackers, as in :func:`kerakit.fit`.
        **hyperparameters: Placeholder values by parameter name
            (``blocks__0__units=64``).

    Raises:
        UsageError: for a keyword that names no placeholder of the declaration.
    """

    _task = "classification"

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one column per class of ``classes_``."""
        return self._outputs(X)

    @property
    def decision_function(self) -> Any:
        # Keras' wrapper returns one column per class, where scikit-learn expects
        # one score for two classes: scorers use predict_proba instead
        raise AttributeError("Classifier has no decision_function; use predict_proba")


class Regressor(_Estimator, keras.wrappers.SKLearnRegressor):
    """A declaration as a scikit-learn regressor, trained by :func:`kerakit.fit`.

    Example:
        >>> from sklearn.datasets import load_diabetes
        >>> X, y = load_diabetes(return_X_y=True)
        >>> Regressor(epochs=2).fit(X, y).predict(X[:2]).shape  # doctest: +SKIP
        (2,)

    Args:
        model: A declaration with a ``regressor`` head, or ``None`` for the
            table default; see :class:`Classifier`.
        epochs, batch_size, validation_split, random_state, verbose, track:
            As for :class:`Classifier`.
        **hyperparameters: Placeholder values by parameter name.

    Raises:
        UsageError: for a keyword that names no placeholder of the declaration.
    """

    _task = "regression"

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # the head gets one unit per target column
        return tags
