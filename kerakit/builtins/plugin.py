"""The built-in plugin: registers every built-in component through the hooks.

It uses exactly the hooks a third-party plugin uses; see :mod:`kerakit.hookspecs`.
"""

from __future__ import annotations

from kerakit.hookspecs import Register, hookimpl


def _register_all(register: Register, table: dict) -> None:
    for name, entry in table.items():
        obj, meta = entry if isinstance(entry, tuple) else (entry, {})
        register(name, obj, **meta)


@hookimpl
def kerakit_datasets(register: Register) -> None:
    from kerakit.builtins import datasets

    _register_all(register, datasets.CATALOGUE)


@hookimpl
def kerakit_preprocessors(register: Register) -> None:
    from kerakit.builtins import preprocessors

    _register_all(register, preprocessors.CATALOGUE)


@hookimpl
def kerakit_augmentations(register: Register) -> None:
    from kerakit.builtins import augmentations

    _register_all(register, augmentations.CATALOGUE)


@hookimpl
def kerakit_blocks(register: Register) -> None:
    from kerakit.builtins import blocks, heads

    _register_all(register, blocks.CATALOGUE)
    for name, (obj, meta) in heads.CATALOGUE.items():
        register(name, obj, role="head", **meta)


@hookimpl
def kerakit_initializers(register: Register) -> None:
    from kerakit.builtins import initializers

    _register_all(register, initializers.CATALOGUE)


@hookimpl
def kerakit_losses(register: Register) -> None:
    from kerakit.builtins import losses

    _register_all(register, losses.CATALOGUE)


@hookimpl
def kerakit_metrics(register: Register) -> None:
    from kerakit.builtins import metrics

    _register_all(register, metrics.CATALOGUE)


@hookimpl
def kerakit_optimizers(register: Register) -> None:
    from kerakit.builtins import optimizers

    _register_all(register, optimizers.CATALOGUE)


@hookimpl
def kerakit_callbacks(register: Register) -> None:
    from kerakit.builtins import callbacks

    _register_all(register, callbacks.CATALOGUE)


@hookimpl
def kerakit_trackers(register: Register) -> None:
    from kerakit.builtins import trackers

    _register_all(register, trackers.CATALOGUE)
