"""One process of a local distributed search: ``python -m kerakit.tuning.worker DIR``.

Started by :func:`kerakit.tuning.distributed.run_search_workers` with
KerasTuner's distributed-mode variables set; it reads the checked search from
``DIR/.kerakit_search/`` and serves the oracle (the chief) or runs trials.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from kerakit.declaration.model import Model
    from kerakit.engine.plan import plan
    from kerakit.tuning.adapter import patched_keras_tuner
    from kerakit.tuning.distributed import read_spec
    from kerakit.tuning.search import Search, SearchOptions

    directory = Path(argv[0])
    spec, dataset = read_spec(directory)
    decl = Model.from_dict(spec["declaration"])
    search = Search(decl, plan(decl), dataset, SearchOptions(**spec["options"]),
                    spec["objective"])
    with patched_keras_tuner():
        search.make_tuner(directory, overwrite=False).search(verbose=0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
