"""A tracker that starts fine, then raises at every epoch and at the end."""

import kerakit
from kerakit.base import Tracker

KERAKIT_PLUGIN_API = ["1.1"]


class Broken(Tracker):
    """A tracker whose backend went away after the run started."""

    def __init__(self):
        self.started = []

    def start_run(self, run):
        self.started.append(run.name)

    def log_epoch(self, run, epoch, metrics):
        raise ConnectionError("tracking server unreachable")

    def end_run(self, run, outcome):
        raise ConnectionError("tracking server unreachable")


@kerakit.hookimpl
def kerakit_trackers(register):
    register("broken", Broken)
