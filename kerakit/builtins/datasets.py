"""Built-in datasets: the ones scikit-learn ships, split with a fixed seed.

None of them downloads anything. Classification splits are stratified; the
test split (20% by default) is taken first, so it never depends on ``val_size``.
"""

from __future__ import annotations

from kerakit.data import Dataset, split


def _load(
    name: str,
    task: str,
    val_size: float,
    test_size: float,
    seed: int,
    image_shape: tuple[int, ...] | None = None,
) -> Dataset:
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    x = bunch.data.astype("float32")
    if image_shape is not None:
        x = x.reshape((-1, *image_shape))
    classification = task == "classification"
    y = bunch.target.astype("int64" if classification else "float32")
    data = split(
        x, y, name=name, task=task, val_size=val_size, test_size=test_size, seed=seed,
        class_names=[str(n) for n in bunch.target_names] if classification else None,
    )
    data.feature_names = [str(f) for f in getattr(bunch, "feature_names", [])] or None
    return data


def digits(val_size: float = 0.15, test_size: float = 0.2, seed: int = 0) -> Dataset:
    """Handwritten digits: 8x8 grey images (values 0-16), 10 classes, 1,797 samples."""
    return _load("digits", "classification", val_size, test_size, seed, (8, 8, 1))


def iris(val_size: float = 0.15, test_size: float = 0.2, seed: int = 0) -> Dataset:
    """Iris flowers: 4 measurements, 3 classes, 150 samples."""
    return _load("iris", "classification", val_size, test_size, seed)


def wine(val_size: float = 0.15, test_size: float = 0.2, seed: int = 0) -> Dataset:
    """Wine cultivars: 13 chemical measurements, 3 classes, 178 samples."""
    return _load("wine", "classification", val_size, test_size, seed)


def breast_cancer(val_size: float = 0.15, test_size: float = 0.2, seed: int = 0) -> Dataset:
    """Breast cancer diagnosis: 30 features, 2 classes, 569 samples."""
    return _load("breast_cancer", "classification", val_size, test_size, seed)


def diabetes(val_size: float = 0.15, test_size: float = 0.2, seed: int = 0) -> Dataset:
    """Diabetes progression after one year (regression): 10 features, 442 samples."""
    return _load("diabetes", "regression", val_size, test_size, seed)


CATALOGUE = {
    "digits": digits,
    "iris": iris,
    "wine": wine,
    "breast_cancer": breast_cancer,
    "diabetes": diabetes,
}
