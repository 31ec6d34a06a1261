"""Split data stored in a directory and opened again: how worker processes get their data.

Arrays go into one ``.npz``, read back without unpickling. A table's splits
are DataFrames of typed columns (strings, integers, floats with missing
values), which ``np.load(allow_pickle=False)`` cannot read back, so each goes
into a Parquet file, which keeps their types.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from kerakit.data import Dataset, is_table
from kerakit.errors import DataError
from kerakit.fileops import exchange_or_move, temp_dir_beside

__all__ = ["STORED_FORMAT", "open_dataset", "save_dataset"]

STORED_FORMAT = 1  # the layout version written into data.json
PARTS = ("train", "val", "test")


def save_dataset(dataset: Dataset, directory: str | Path) -> Path:
    """Store a split dataset in ``directory``, which appears complete or not at all.

    Example:
        >>> import tempfile
        >>> import numpy as np
        >>> from kerakit.data import split
        >>> data = split(np.eye(20, dtype="float32"), np.arange(20) % 2, val_size=0.2)
        >>> folder = save_dataset(data, tempfile.mkdtemp() + "/data")
        >>> open_dataset(folder).x_train.shape
        (12, 20)

    Args:
        dataset: The splits, arrays or a table's DataFrames.
        directory: Where to put them; replaced if it exists.

    Returns:
        The directory.

    Raises:
        DataError: for pipelines, which cannot be stored.
    """
    if not isinstance(dataset, Dataset):
        raise DataError("Cannot store this data for worker processes. Expected arrays, a "
                        "table or an image folder loaded into memory. Received: "
                        f"{type(dataset).__name__}")
    directory = Path(directory)
    work = temp_dir_beside(directory)
    try:
        _write(dataset, work)
        exchange_or_move(work, directory)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # gone already when it was moved into place
    return directory


def _write(dataset: Dataset, work: Path) -> None:
    table = is_table(dataset.x_train)
    arrays: dict[str, np.ndarray] = {}
    for part in PARTS:
        x, y = getattr(dataset, f"x_{part}"), getattr(dataset, f"y_{part}")
        arrays[f"y_{part}"] = np.asarray(y)
        if table:
            x.reset_index(drop=True).to_parquet(work / f"x_{part}.parquet")
        else:
            arrays[f"x_{part}"] = np.asarray(x)
    np.savez(work / "arrays.npz", **arrays)
    info = {"format": STORED_FORMAT, "name": dataset.name, "task": dataset.task,
            "class_names": dataset.class_names, "columns": dataset.columns,
            "feature_names": dataset.feature_names, "table": table}
    (work / "data.json").write_text(json.dumps(info, indent=2))


def open_dataset(directory: str | Path) -> Dataset:
    """The dataset :func:`save_dataset` stored.

    Raises:
        DataError: for a directory that holds no stored dataset, or one of
            another format version.
    """
    directory = Path(directory)
    try:
        info = json.loads((directory / "data.json").read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"Invalid stored data {str(directory)!r}. Expected a data.json written "
                        f"by kerakit. Received: {exc}") from exc
    if info.get("format") != STORED_FORMAT:
        raise DataError(f"Invalid stored data {str(directory)!r}. Expected format "
                        f"{STORED_FORMAT}. Received: format {info.get('format')!r}")
    with np.load(directory / "arrays.npz", allow_pickle=False) as archive:
        arrays: dict[str, Any] = {k: archive[k] for k in archive.files}
    if info["table"]:
        import pandas as pd

        for part in PARTS:
            arrays[f"x_{part}"] = pd.read_parquet(directory / f"x_{part}.parquet")
    parts = [arrays[f"{axis}_{part}"] for part in PARTS for axis in ("x", "y")]
    return Dataset(info["name"], *parts, task=info["task"], class_names=info["class_names"],
                   feature_names=info["feature_names"], columns=info["columns"])
