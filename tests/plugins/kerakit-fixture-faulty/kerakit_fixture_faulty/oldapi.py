"""A plugin written for a plugin API kerakit does not provide."""

import kerakit

KERAKIT_PLUGIN_API = [0]


@kerakit.hookimpl
def kerakit_metrics(register):
    register("old_metric", lambda: "accuracy")
