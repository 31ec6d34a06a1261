"""A plugin that registers the same name twice."""

import kerakit


def one():
    """First."""


@kerakit.hookimpl
def kerakit_metrics(register):
    register("twice_metric", one)
    register("twice_metric", one)
