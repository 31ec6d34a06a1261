"""One process of a local distributed search: ``python -m kerakit.tuning.worker DIR``.

Started by :func:`kerakit.tuning.distributed.run_search_workers` with
KerasTuner's distributed-mode variables set; it reads the checked search from
``DIR/.kerakit_search/`` and serves the oracle (the chief) or runs trials.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    """Serve or run the search in the directory ``argv[0]``; returns the exit status."""
    from kerakit.declaration.model import Model
    from kerakit.engine.plan import plan
    from kerakit.tuning.adapter import patched_keras_tuner
    from kerakit.tuning.budget import SPENT_FILE, SearchClock
    from kerakit.tuning.checked_search import Search
    from kerakit.tuning.handoff import read_spec
    from kerakit.tuning.keras_tuner_engine import make_tuner
    from kerakit.tuning.options import SearchOptions

    directory = Path(argv[0])
    spec, dataset = read_spec(directory)
    decl = Model.from_dict(spec["declaration"])
    options = SearchOptions(**spec["options"])
    search = Search(decl, plan(decl), dataset, options, spec["objective"],
                    clock=SearchClock(options.time_budget, spec.get("deadline"),
                                      directory / SPENT_FILE))
    with patched_keras_tuner():
        make_tuner(search, directory, overwrite=False).search(verbose=0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
