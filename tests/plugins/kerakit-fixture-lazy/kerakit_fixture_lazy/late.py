"""A plugin that works when installed and breaks later, when its dependency is gone."""

import kerakit_fixture_lazy_dep

import kerakit


@kerakit.hookimpl
def kerakit_blocks(register):
    register("late_block", kerakit_fixture_lazy_dep.late_block)
