"""Hook implementations: what the ``optuna`` plugin registers.

Optuna is imported only when a search runs, so loading the plugin costs nothing.
"""

from __future__ import annotations

import kerakit

# The tuner-engine hook arrived in plugin API 1.1.
KERAKIT_PLUGIN_API = ["1.1"]


def _engine():
    from kerakit_optuna.engine import OptunaEngine

    return OptunaEngine()


@kerakit.hookimpl
def kerakit_tuner_engines(register):
    register("optuna", _engine,
             summary="Optuna: studies in shared storage, pruning, heartbeats, any number "
                     "of processes")
