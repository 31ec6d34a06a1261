"""``kerakit new-plugin``: a plugin package that installs and passes its tests as generated."""

from __future__ import annotations

import keyword
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from kerakit.errors import UsageError
from kerakit.hookspecs import KINDS, PLUGIN_API_VERSION

NAME = re.compile(r"^[a-z][a-z0-9_]*$")

# kind -> (registered name, Python source of one example component)
EXAMPLES: dict[str, tuple[str, str]] = {
    "blocks": ("scale_block", '''
@keras.saving.register_keras_serializable(package=PACKAGE)
class ScaleBlock(keras.layers.Layer):
    """Multiply each feature by a learned scale."""

    def __init__(self, init: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.init = init

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=(input_shape[-1],),
                                     initializer=keras.initializers.Constant(self.init))

    def call(self, inputs):
        return inputs * self.scale

    def get_config(self):
        return {**super().get_config(), "init": self.init}
'''),
    "preprocessors": ("clip_values", '''
@keras.saving.register_keras_serializable(package=PACKAGE)
class ClipValues(keras.layers.Layer):
    """Clip inputs to [low, high]."""

    def __init__(self, low: float = -5.0, high: float = 5.0, **kwargs):
        super().__init__(**kwargs)
        self.low, self.high = low, high

    def call(self, inputs):
        return ops.clip(inputs, self.low, self.high)

    def get_config(self):
        return {**super().get_config(), "low": self.low, "high": self.high}
'''),
    "augmentations": ("random_scale", '''
@keras.saving.register_keras_serializable(package=PACKAGE)
class RandomScale(keras.layers.Layer):
    """Multiply inputs by a random factor in [1 - amount, 1 + amount], in training only."""

    def __init__(self, amount: float = 0.1, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.amount, self.seed = amount, seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        factor = keras.random.uniform((), 1 - self.amount, 1 + self.amount, seed=self.generator)
        return inputs * factor

    def get_config(self):
        return {**super().get_config(), "amount": self.amount, "seed": self.seed}
'''),
    "losses": ("scaled_mse", '''
@keras.saving.register_keras_serializable(package=PACKAGE)
class ScaledMSE(keras.losses.Loss):
    """Mean squared error times a constant."""

    def __init__(self, scale: float = 1.0, name: str = "scaled_mse", **kwargs):
        super().__init__(name=name, **kwargs)
        self.scale = scale

    def call(self, y_true, y_pred):
        # Keras passes targets as the data holds them, often (n,) against (n, 1)
        # predictions: shape them like y_pred, or the difference broadcasts to (n, n).
        y_true = ops.reshape(ops.cast(y_true, y_pred.dtype), ops.shape(y_pred))
        error = y_true - y_pred
        return self.scale * ops.mean(ops.square(error), axis=-1)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
'''),
    "initializers": ("small_normal", '''
@keras.saving.register_keras_serializable(package=PACKAGE)
class SmallNormal(keras.initializers.Initializer):
    """Normal weights with a small standard deviation."""

    def __init__(self, stddev: float = 0.01, seed: int | None = None):
        self.stddev, self.seed = stddev, seed

    def __call__(self, shape, dtype=None):
        return keras.random.normal(shape, stddev=self.stddev, dtype=dtype, seed=self.seed)

    def get_config(self):
        return {"stddev": self.stddev, "seed": self.seed}
'''),
    "metrics": ("mean_prediction", '''
@keras.saving.register_keras_serializable(package=PACKAGE)
class MeanPrediction(keras.metrics.Mean):
    """The mean of the predictions."""

    def __init__(self, name: str = "mean_prediction", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(y_pred, sample_weight=sample_weight)
'''),
    "optimizers": ("slow_sgd", '''
def slow_sgd(learning_rate: float = 0.001, momentum: float = 0.9):
    """SGD with a small learning rate and momentum."""
    return keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
'''),
    "callbacks": ("epoch_printer", '''
class EpochPrinter(keras.callbacks.Callback):
    """Print the loss at the end of every `every` epochs."""

    def __init__(self, every: int = 1):
        super().__init__()
        self.every = every

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0:
            print(f"epoch {epoch + 1}: loss={(logs or {}).get('loss')}")

    def get_config(self):
        return {"every": self.every}
'''),
    "trackers": ("epoch_logger", '''
class EpochLogger:
    """Print each run's metrics at every epoch (a tracker; each method is optional)."""

    def start_run(self, run):
        print(f"{run.kind} {run.name}: {run.hyperparameters}")

    def log_epoch(self, run, epoch, metrics):
        print(f"{run.name} epoch {epoch + 1}: {metrics}")
'''),
    "datasets": ("iris_small", '''
def iris_small(val_size: float = 0.2, test_size: float = 0.2, seed: int = 0):
    """Iris from scikit-learn, split for training."""
    from sklearn.datasets import load_iris

    bunch = load_iris()
    return kerakit.split(bunch.data.astype("float32"), bunch.target, name="iris_small",
                         val_size=val_size, test_size=test_size, seed=seed,
                         class_names=list(bunch.target_names))
'''),
}


def new_plugin(name: str, out: str | Path = ".", kinds: Sequence[str] | None = None) -> Path:
    """Write a plugin package ``kerakit-<name>`` into ``out``; return its directory.

    Args:
        name: The plugin name: a lowercase Python identifier, e.g. ``"audio"``.
        out: Parent directory.
        kinds: Component kinds to give an example of (default: blocks and losses).

    Raises:
        UsageError: for an invalid name, an unknown kind or an existing target.
    """
    if not NAME.match(name or "") or keyword.iskeyword(name):
        raise UsageError(
            "Invalid plugin name. Expected a lowercase Python identifier (letters, digits, "
            f"underscores, starting with a letter), e.g. 'audio'. Received: {name!r}"
        )
    kinds = list(kinds or ["blocks", "losses"])
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise UsageError(f"Invalid kinds. Expected some of: {', '.join(KINDS)}. "
                         f"Received: {', '.join(unknown)}")
    target = Path(out) / f"kerakit-{name.replace('_', '-')}"
    if target.exists():
        raise UsageError(f"The target directory {str(target)!r} already exists. Expected a new "
                         "directory; choose another --out or remove it.")
    package = f"kerakit_{name}"
    with tempfile.TemporaryDirectory(dir=target.parent if target.parent.exists() else None) as t:
        work = Path(t) / target.name
        (work / package).mkdir(parents=True)
        (work / "tests").mkdir()
        (work / "pyproject.toml").write_text(_pyproject(name, package))
        (work / "README.md").write_text(_readme(name, kinds))
        (work / package / "__init__.py").write_text(f'"""kerakit plugin `{name}`."""\n')
        (work / package / "plugin.py").write_text(_plugin_source(name, package, kinds))
        (work / "tests" / f"test_{name}.py").write_text(_test_source(name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(work), str(target))
    return target


def _pyproject(name: str, package: str) -> str:
    return f'''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "kerakit-{name.replace('_', '-')}"
version = "0.1.0"
description = "kerakit plugin `{name}`."
requires-python = ">=3.10"
dependencies = ["kerakit"]

[project.optional-dependencies]
test = ["pytest"]

[project.entry-points.kerakit]
{name} = "{package}.plugin"

[tool.setuptools]
packages = ["{package}"]
'''


def _readme(name: str, kinds: Sequence[str]) -> str:
    rows = "\n".join(f"| {k} | `{name}.{EXAMPLES[k][0]}` |" for k in kinds)
    return f"""# kerakit-{name.replace('_', '-')}

A kerakit plugin. Its components, under the plugin name `{name}`:

| kind | name |
| --- | --- |
{rows}

Install and check:

```
pip install .
kerakit components --json | grep {name}.
pip install '.[test]' && pytest
```

Edit `{f"kerakit_{name}"}/plugin.py` to add components; `tests/` runs kerakit's
conformance kit over every one of them.
"""


def _plugin_source(name: str, package: str, kinds: Sequence[str]) -> str:
    # the trackers hook arrived in plugin API 1.1
    api = f'"{PLUGIN_API_VERSION}.1"' if "trackers" in kinds else str(PLUGIN_API_VERSION)
    parts = [f'"""Hook implementations of the kerakit plugin `{name}`."""\n',
             "import keras\nfrom keras import ops  # noqa: F401\n\nimport kerakit\n",
             f'PACKAGE = "{package}"\nKERAKIT_PLUGIN_API = [{api}]\n']
    for kind in kinds:
        parts.append(EXAMPLES[kind][1])
    for kind in kinds:
        registered, source = EXAMPLES[kind]
        obj = re.search(r"^(?:class|def) (\w+)", source.strip(), re.M).group(1)
        parts.append(f"\n@kerakit.hookimpl\ndef kerakit_{kind}(register):\n"
                     f'    register("{registered}", {obj})\n')
    return "\n".join(parts)


def _test_source(name: str) -> str:
    return f'''"""Conformance of every component of the plugin `{name}`."""

from kerakit.testing import conformance_test

test_conformance = conformance_test("{name}")
'''
