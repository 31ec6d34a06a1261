"""Built-in heads: the last layer, matched to the task."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from kerakit.errors import UsageError


@keras.saving.register_keras_serializable(package="kerakit")
class ClassificationHead(keras.layers.Dense):
    """Class probabilities: softmax over ``classes``, or sigmoid for binary / multi-label.

    Example:
        >>> head = ClassificationHead(classes=3, class_names=["a", "b", "c"])

    Args:
        classes: Number of classes. With ``activation="sigmoid"`` and
            ``classes=2`` the head has a single output unit.
        activation: ``"softmax"`` or ``"sigmoid"``.
        class_names: Optional label per class, kept in the saved model and in
            exports.
        kernel_initializer: Initializer name or config.
    """

    def __init__(
        self,
        classes: int = 2,
        activation: str = "softmax",
        class_names: Sequence[str] | None = None,
        kernel_initializer: Any = "glorot_uniform",
        **kwargs: Any,
    ) -> None:
        if activation not in ("softmax", "sigmoid"):
            raise UsageError(
                "Invalid value for argument `activation`. Expected 'softmax' or 'sigmoid'. "
                f"Received: activation={activation!r}"
            )
        if not isinstance(classes, int) or classes < 2:
            raise UsageError(
                f"Invalid value for argument `classes`. Expected an int >= 2. "
                f"Received: classes={classes!r}"
            )
        if class_names is not None and len(class_names) != classes:
            raise UsageError(
                f"Invalid value for argument `class_names`. Expected {classes} names. "
                f"Received: {len(class_names)} names"
            )
        repeated = sorted({str(c) for c in class_names or () if
                           [str(n) for n in class_names].count(str(c)) > 1})
        if repeated:
            raise UsageError(
                "Invalid value for argument `class_names`. Expected distinct names. "
                f"Received: {', '.join(map(repr, repeated))} more than once"
            )
        kwargs.pop("units", None)  # present in configs being reloaded
        units = 1 if activation == "sigmoid" and classes == 2 else classes
        super().__init__(units, activation=activation, kernel_initializer=kernel_initializer,
                         **kwargs)
        self.classes = classes
        self.class_names = [str(c) for c in class_names] if class_names is not None else None

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("units", None)
        return {**config, "classes": self.classes, "class_names": self.class_names}


@keras.saving.register_keras_serializable(package="kerakit")
class RegressionHead(keras.layers.Dense):
    """Real-valued outputs, linear by default.

    Example:
        >>> head = RegressionHead(units=1)

    Args:
        units: Number of targets.
        activation: Output activation, ``None`` for linear.
        kernel_initializer: Initializer name or config.
    """

    def __init__(
        self,
        units: int = 1,
        activation: str | None = None,
        kernel_initializer: Any = "glorot_uniform",
        **kwargs: Any,
    ) -> None:
        super().__init__(units, activation=activation, kernel_initializer=kernel_initializer,
                         **kwargs)


CATALOGUE = {
    "classifier": (ClassificationHead, {"task": "classification"}),
    "regressor": (RegressionHead, {"task": "regression"}),
}
