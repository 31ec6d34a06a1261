"""A plugin whose import fails."""

import kerakit_dependency_that_is_not_installed  # noqa: F401
