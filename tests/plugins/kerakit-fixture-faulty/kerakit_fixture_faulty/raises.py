"""A plugin whose hook raises after registering one component."""

import kerakit


def fine():
    """Registered before the failure; must be dropped with the plugin."""
    return "mse"


@kerakit.hookimpl
def kerakit_losses(register):
    register("raises_loss", fine)
    raise RuntimeError("boom in kerakit_losses")
