"""The plugin authors' contract: one hook per component kind.

Every hook receives a ``register`` callable and returns nothing. A plugin
implements any subset of them in a module that its distribution names under
the ``kerakit`` entry-point group:

    # pyproject.toml of the plugin
    [project.entry-points.kerakit]
    vision = "kerakit_vision.plugin"

    # kerakit_vision/plugin.py
    import kerakit

    @kerakit.hookimpl
    def kerakit_blocks(register):
        register("se_block", SqueezeExcite)

``register(name, obj, **metadata)`` takes:

- ``name``: the short name, lowercase ``[a-z][a-z0-9_]*``. The registry also
  knows it as ``<plugin>.<name>``, where ``<plugin>`` is the entry point's name.
- ``obj``: a class or factory. Calling it with keyword parameters returns the
  component (a layer, a loss, an initializer, ...). Its signature documents
  the parameters; its docstring's first line is the summary.
- ``metadata``: free keyword metadata kept with the component. ``summary=``
  overrides the docstring's first line.

The hooks run when kerakit imports the plugin's module: once, to build the
plugin's entry in the component index (cached per installed version), and
then only in a process that creates, builds or reloads one of its
components. Listing, name resolution and declaration checks read the index
(see ``docs/plugins.md``). Registering the same name twice from one plugin
quarantines that plugin.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

PROJECT_NAME = "kerakit"

#: The plugin API's major version: a plugin lists the majors it supports in
#: ``KERAKIT_PLUGIN_API`` (``[1]``), or a minimum ``"MAJOR.MINOR"`` (``["1.1"]``)
#: when it implements hooks added in a minor version.
PLUGIN_API_VERSION = 1
#: The minor version: hooks are only ever added within a major version.
#: 1.0: the nine component hooks. 1.1: tuner engines and experiment trackers.
PLUGIN_API_MINOR = 1

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

Register = Callable[..., None]


# -------------------------------------------------------------------------
# Data: what goes into the model and how it is prepared
# -------------------------------------------------------------------------


@hookspec
def kerakit_preprocessors(register: Register) -> None:
    """Register preprocessors: deterministic input transforms kept at inference.

    Called when the plugin is imported (above). A preprocessor is a ``keras.layers.Layer``
    factory. If the layer has an ``adapt(data)`` method, kerakit calls it on the
    training split only, before training.

    Args:
        register: ``register(name, factory, **metadata)``.
    """


@hookspec
def kerakit_augmentations(register: Register) -> None:
    """Register augmentations: random transforms active in training only.

    Called when the plugin is imported (above). An augmentation is a
    ``keras.layers.Layer`` factory. kerakit places it after the preprocessors
    and leaves it out of every exported inference graph.

    Args:
        register: ``register(name, factory, **metadata)``.
    """


@hookspec
def kerakit_datasets(register: Register) -> None:
    """Register datasets by name.

    Called when the plugin is imported (above). A dataset is a factory returning a
    ``kerakit.Dataset`` (train / validation / test splits with metadata).
    It must not download anything at run time.

    Args:
        register: ``register(name, factory, **metadata)``.
    """


# -------------------------------------------------------------------------
# Model: the body, its weights and what it is trained against
# -------------------------------------------------------------------------


@hookspec
def kerakit_blocks(register: Register) -> None:
    """Register model blocks and heads.

    Called when the plugin is imported (above). A block is a ``keras.layers.Layer``
    factory applied to the previous block's output. A head is a block
    registered with ``role="head"`` metadata.

    Args:
        register: ``register(name, factory, **metadata)``.
    """


@hookspec
def kerakit_initializers(register: Register) -> None:
    """Register weight initializers.

    Called when the plugin is imported (above). An initializer is a
    ``keras.initializers.Initializer`` factory.

    Args:
        register: ``register(name, factory, **metadata)``.
    """


@hookspec
def kerakit_losses(register: Register) -> None:
    """Register losses.

    Called when the plugin is imported (above). A loss is a ``keras.losses.Loss``
    factory.

    Args:
        register: ``register(name, factory, **metadata)``.
    """


@hookspec
def kerakit_metrics(register: Register) -> None:
    """Register metrics.

    Called when the plugin is imported (above). A metric is a ``keras.metrics.Metric``
    factory.

    Args:
        register: ``register(name, factory, **metadata)``.
    """


# -------------------------------------------------------------------------
# Training: how the weights are updated and when to stop
# -------------------------------------------------------------------------


@hookspec
def kerakit_optimizers(register: Register) -> None:
    """Register optimizers.

    Called when the plugin is imported (above). An optimizer is a
    ``keras.optimizers.Optimizer`` factory.

    Args:
        register: ``register(name, factory, **metadata)``.
    """


@hookspec
def kerakit_callbacks(register: Register) -> None:
    """Register training callbacks (stopping rules, schedules, logging).

    Called when the plugin is imported (above). A callback is a
    ``keras.callbacks.Callback`` factory. A factory parameter named ``run_dir``
    receives the run directory.

    Args:
        register: ``register(name, factory, **metadata)``.
    """


# -------------------------------------------------------------------------
# Tracking: where runs and tuning trials are recorded (plugin API 1.1)
# -------------------------------------------------------------------------


@hookspec
def kerakit_trackers(register: Register) -> None:
    """Register experiment trackers (plugin API 1.1).

    Called when the plugin is imported (above). A tracker is a factory returning a
    :class:`kerakit.base.Tracker`: it receives the start of each run (the
    resolved declaration, its hyperparameters, the data's name and
    fingerprint, the kerakit and plugin versions), per-epoch metrics and the
    end of the run (test metrics, run-directory files, the export). Tuning
    makes one parent run per search and one child run per trial. Runs turn a
    tracker on by name: ``--track NAME``, ``Model(track=[NAME])`` or
    ``KERAKIT_TRACK=NAME``. A tracker that raises is switched off with one
    warning; training goes on. Plugins implementing this hook declare
    ``KERAKIT_PLUGIN_API = ["1.1"]``.

    Args:
        register: ``register(name, factory, **metadata)``.
    """


# -------------------------------------------------------------------------
# Tuning engines: what runs a hyperparameter search (plugin API 1.1)
# -------------------------------------------------------------------------


@hookspec
def kerakit_tuner_engines(register: Register) -> None:
    """Register tuner engines: what ``kerakit.tune(..., engine=NAME)`` runs.

    Called with the component hooks when the plugin is imported (above); what
    it registers is kept in the component index, so listing engines imports no
    plugin and ``engine=NAME`` imports only that engine's. An engine is a
    :class:`kerakit.TunerEngine` subclass, or a factory returning an instance;
    it receives the checked search and writes the same outputs as the built-in
    KerasTuner engine (``keras_tuner``, the default, registered through this
    hook by :mod:`kerakit.tuning.keras_tuner_engine`). Engines are not
    components: they are not in ``KINDS`` and not in the conformance kit.
    A plugin implementing this hook declares ``KERAKIT_PLUGIN_API = ["1.1"]``.

    Args:
        register: ``register(name, factory, **metadata)``; ``name`` is what
            ``engine=`` and ``kerakit tune --engine`` take.
    """


#: The component kinds, in pipeline order; each has the hook ``kerakit_<kind>``.
KINDS: tuple[str, ...] = (
    "datasets",
    "preprocessors",
    "augmentations",
    "blocks",
    "initializers",
    "losses",
    "metrics",
    "optimizers",
    "callbacks",
    "trackers",
)


def singular(kind: str) -> str:
    """``"losses"`` -> ``"loss"``, ``"blocks"`` -> ``"block"``."""
    return kind[:-2] if kind.endswith("sses") else kind[:-1]


def hook_name(kind: str) -> str:
    """Return the hook name for a component kind."""
    return f"kerakit_{kind}"

