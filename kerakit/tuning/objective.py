"""Which way an objective improves: the tuner's direction.

The rule itself is :func:`kerakit.curves.direction`, shared with the runs
that keep their best epoch, so a search and a run judge a metric alike.
"""

from __future__ import annotations

from kerakit.curves import direction

__all__ = ["direction"]
