"""A plugin implementing a hook that does not exist (a misspelled hook name)."""

import kerakit


@kerakit.hookimpl
def kerakit_block(register):
    register("never_registered", object)
