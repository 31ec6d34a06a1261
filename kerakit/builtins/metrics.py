"""Built-in metrics: Keras' own."""

from __future__ import annotations

import keras


def accuracy() -> str:
    """Accuracy matched to the labels: Keras picks sparse, categorical or binary."""
    # Keras resolves the string "accuracy" against the loss and output shape at
    # compile time, which no single metric class can do.
    return "accuracy"


CATALOGUE = {
    "accuracy": accuracy,
    "sparse_categorical_accuracy": keras.metrics.SparseCategoricalAccuracy,
    "categorical_accuracy": keras.metrics.CategoricalAccuracy,
    "binary_accuracy": keras.metrics.BinaryAccuracy,
    "top_k_accuracy": keras.metrics.SparseTopKCategoricalAccuracy,
    "precision": keras.metrics.Precision,
    "recall": keras.metrics.Recall,
    "auc": keras.metrics.AUC,
    "mae": keras.metrics.MeanAbsoluteError,
    "rmse": keras.metrics.RootMeanSquaredError,
}
