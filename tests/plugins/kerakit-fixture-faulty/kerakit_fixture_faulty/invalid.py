"""A plugin that registers something that is not callable."""

import kerakit


@kerakit.hookimpl
def kerakit_metrics(register):
    register("not_callable", 42)
