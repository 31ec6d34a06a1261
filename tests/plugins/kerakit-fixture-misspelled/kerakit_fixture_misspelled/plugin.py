"""A plugin whose hook argument is misspelled (regster)."""

import kerakit


@kerakit.hookimpl
def kerakit_blocks(regster):
    regster("never_registered", object)
