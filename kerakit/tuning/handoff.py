"""The checked search as files that worker processes read: a spec and the data.

The data is stored with :func:`kerakit.sources.stored.save_dataset`: arrays
as ``.npz``, a table's splits as Parquet (string columns and missing values
intact), never as object arrays, which ``np.load`` refuses without pickle.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerakit.data import Dataset
from kerakit.fileops import write_atomic
from kerakit.sources.stored import open_dataset, save_dataset
from kerakit.tuning.directory import SPEC_DIR

if TYPE_CHECKING:
    from kerakit.tuning.checked_search import Search


def write_spec(search: Search, directory: Path) -> None:
    """Write the search for worker processes: ``spec.json`` and the stored data.

    Example:
        >>> write_spec(search, Path("tuning/x"))  # doctest: +SKIP

    Args:
        search: The checked search.
        directory: The tuning directory; the files go to its ``.kerakit_search/``.
    """
    folder = directory / SPEC_DIR
    folder.mkdir(parents=True, exist_ok=True)
    save_dataset(search.dataset, folder / "data")
    # one deadline for every process: the budget counts the search's time, not each one's
    spec = {"declaration": search.decl.to_dict(), "options": asdict(search.options),
            "objective": search.objective, "deadline": search.clock.deadline}
    write_atomic(folder / "spec.json", json.dumps(spec, indent=2, default=str))


def read_spec(directory: Path) -> tuple[dict[str, Any], Dataset]:
    """What :func:`write_spec` wrote: the spec and the dataset.

    Example:
        >>> spec, dataset = read_spec(Path("tuning/x"))  # doctest: +SKIP

    Args:
        directory: The tuning directory.

    Returns:
        The spec (declaration, options, objective, deadline) and the dataset.
    """
    folder = directory / SPEC_DIR
    return json.loads((folder / "spec.json").read_text()), open_dataset(folder / "data")
