"""Hook implementations: the ``wandb`` tracker.

wandb is imported only when a run turns the tracker on: it costs more than a
second, which listing plugins or training without tracking never pays.
"""

from __future__ import annotations

from typing import Any

import kerakit

# kerakit_trackers arrived in plugin API 1.1
KERAKIT_PLUGIN_API = ["1.1"]


def wandb(project: str | None = None, entity: str | None = None, mode: str | None = None,
          directory: str | None = None) -> Any:
    """Log runs, searches (as groups, one run per trial), metrics and models to W&B.

    Args:
        project: The project; defaults to ``WANDB_PROJECT``, else the declaration's name.
        entity: The team or user; defaults to ``WANDB_ENTITY``, else W&B's default.
        mode: ``"online"``, ``"offline"`` or ``"disabled"``; defaults to ``WANDB_MODE``.
        directory: Where W&B writes its run folders; defaults to ``WANDB_DIR``.
    """
    from kerakit_wandb.tracker import WandbTracker

    return WandbTracker(project=project, entity=entity, mode=mode, directory=directory)


@kerakit.hookimpl
def kerakit_trackers(register: Any) -> None:
    register("wandb", wandb)
