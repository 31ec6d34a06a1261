"""A source: the user's data, read and analysed once, handed on as plain facts.

``Source(data, target)`` names what to read; nothing is read until it is
asked. :meth:`Source.facts` reads the data once and tells what a plan needs
to know (kind, columns and their kinds, task, classes, outputs, rows, input
shape); :meth:`Source.dataset` splits it. Both are cached, and a source made
from another with :meth:`Source.with_columns` shares the first one's reads,
so a no-code run that chooses a declaration from a table and then trains it
reads the file once.

The splits always use the seed 0, whatever the declaration's seed, so runs
with different seeds are compared on the same test set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kerakit.data import (
    Dataset,
    Streams,
    class_indices,
    is_table,
    is_tf_dataset,
    split,
    streams_from,
)
from kerakit.errors import DataError
from kerakit.sources.arrays import TEST_SIZE, index_names, npz_dataset
from kerakit.sources.facts import Facts, facts_of, names_of
from kerakit.sources.formats import ARRAY_SUFFIXES, TABLE_SUFFIXES, is_table_path, read_arrays
from kerakit.sources.stored import open_dataset, save_dataset

__all__ = ["Facts", "Source", "as_source", "with_target"]

class Source:
    """The user's data, read once.

    Example:
        >>> source = Source("iris")
        >>> source.facts().kind, source.facts().class_names
        ('dataset', ('setosa', 'versicolor', 'virginica'))
        >>> source.dataset().x_train.shape[1:]
        (4,)

    Args:
        data: A registered dataset name; a ``.csv``, ``.tsv`` or ``.parquet``
            file or a DataFrame (with ``target``); a ``.npz`` file; a folder of
            images with one subfolder per class; a :class:`~kerakit.data.Dataset`
            or :class:`~kerakit.data.Streams`; a tuple ``(x, y)``; a dict with
            ``train``, ``val`` (and ``test``) ``(x, y)`` tuples; or a batched
            ``tf.data.Dataset`` of ``(x, y)``, or a dict of them.
        target: The target column(s) of a table.
        columns: Column kinds that override the inferred ones (a declaration's
            ``columns``).
        registry: Where registered datasets are looked up; defaults to the
            loaded plugins'.

    Raises:
        DataError: for a target given with data that has no columns.
    """

    def __init__(self, data: Any, target: str | Sequence[str] | None = None, *,
                 columns: Mapping[str, str] | None = None, registry: Any = None) -> None:
        if isinstance(data, dict) and "table" in data:
            unknown = sorted(set(data) - {"table", "target"})
            if unknown or not data.get("target"):
                raise DataError("Invalid table data. Expected {'table': PATH_OR_DATAFRAME, "
                                f"'target': COLUMN}}. Received: keys {sorted(data)}")
            data, target = data["table"], target or data["target"]
        if target is not None and not isinstance(target, str):
            target = list(target) or None
        if target is not None and not (is_table(data) or isinstance(data, (str, Path))):
            raise DataError("Invalid `target`. Expected it with a table file or a DataFrame. "
                            f"Received: target={target!r} with data of type "
                            f"{type(data).__name__}")
        self.data = data
        self.target = target
        self.columns = dict(columns) if columns else None
        self.registry = registry
        self._reads: dict[str, Any] = {}  # what was read: shared with with_columns' copies
        self._splits: dict[tuple, Dataset | Streams] = {}
        self._facts: dict[float, Facts] = {}

    def __repr__(self) -> str:
        shown = self.reference if self.reference is not None else type(self.data).__name__
        return f"Source({shown!r})"

    @property
    def reference(self) -> Any:
        """The data as a JSON value a recipe can record, or ``None`` for data in memory."""
        if isinstance(self.data, Path):
            data: Any = str(self.data)
        elif isinstance(self.data, str):
            data = self.data
        else:
            return None
        return {"table": data, "target": self.target} if self.target else data

    def with_columns(self, columns: Mapping[str, str] | None) -> Source:
        """This source with other column kinds; what was read already is not read again."""
        if dict(columns or {}) == dict(self.columns or {}):
            return self
        other = Source(self.data, self.target, columns=columns, registry=self.registry)
        other._reads = self._reads
        return other

    def save(self, directory: str | Path, **split: Any) -> Path:
        """Store this source's splits (as :meth:`dataset` makes them) for another process.

        Raises:
            DataError: for pipelines, which cannot be stored.
        """
        return save_dataset(self.dataset(**split), directory)

    @classmethod
    def open(cls, directory: str | Path) -> Source:
        """A source of the splits :meth:`save` stored in ``directory``.

        Raises:
            DataError: for a directory that holds no stored splits.
        """
        return cls(open_dataset(directory))

    # -- reading -----------------------------------------------------------------

    def facts(self, val_size: float = 0.15) -> Facts:
        """What the data holds (read on first use, then cached).

        Args:
            val_size: The validation fraction, for a registered dataset, which
                is created already split.

        Raises:
            DataError: for data that cannot be read, naming the file or column.
        """
        if val_size not in self._facts:
            self._facts[val_size] = self._find_facts(val_size)
        return self._facts[val_size]

    def dataset(self, *, val_size: float = 0.15, task: str | None = None,
                class_names: Sequence[str] | None = None, classes: int | None = None,
                image_size: tuple[int, int] | None = None, batch_size: int = 32,
                seed: int = 0, in_memory: bool = False) -> Dataset | Streams:
        """The train / validation / test splits (cached for the same arguments).

        Args:
            val_size: Fraction of the rows for validation; the test split is
                20% of the rows, taken first.
            task: The head's task, when it is known.
            class_names: The head's classes, in its order.
            classes: The head's number of classes, naming integer labels when
                ``class_names`` is not given.
            image_size, batch_size, seed: How an image folder is streamed.
            in_memory: Load an image folder into arrays (tuning re-batches the
                data for every trial).

        Returns:
            A :class:`~kerakit.data.Dataset`, or :class:`~kerakit.data.Streams`
            for pipelines and streamed image folders.

        Raises:
            DataError: for data that cannot be read or split.
        """
        names = tuple(class_names) if class_names else None
        key = (val_size, task, names, classes, image_size, batch_size, seed, in_memory)
        if key not in self._splits:
            self._splits[key] = self._split(val_size, task, list(names) if names else None,
                                            classes, image_size, batch_size, seed, in_memory)
        return self._splits[key]

    def _find_facts(self, val_size: float) -> Facts:
        """Facts from one look at the data: labels are counted, nothing is split."""
        data = self.data
        if isinstance(data, Dataset):
            found = facts_of("table" if data.columns else "arrays", data.name, data.x_train,
                              data.y_train, len(data.x_train) + len(data.x_val) +
                              len(data.x_test), data.task, data.class_names)
            return dataclasses.replace(found, columns=data.columns) if data.columns else found
        if isinstance(data, Streams) or is_tf_dataset(data) or _is_stream_dict(data):
            streams = self.dataset(val_size=val_size)
            return Facts("pipeline", streams.name, None, None,
                         input_shape=tuple(streams.input_shape))
        if is_table(data) or self.target is not None:
            table = self._analysis()
            names = class_indices(table.raw_y, None, table.name)[1] \
                if table.task == "classification" else None
            return Facts("table", table.name, table.task, names_of(names),
                         columns=dict(table.kinds), outputs=len(table.targets), rows=len(table.y))
        if isinstance(data, tuple) and len(data) == 2:
            return facts_of("arrays", "data", data[0], data[1], len(data[0]))
        if isinstance(data, dict) and {"train", "val"} <= set(data):
            rows = sum(len(np.asarray(part[1])) for part in data.values())
            return facts_of("arrays", "data", data["train"][0], data["train"][1], rows)
        kind = self._path_kind()
        if kind == "images":
            folder = self._folder()
            return Facts("images", str(folder.path), "classification",
                         tuple(folder.class_names), rows=len(folder.files),
                         input_shape=(*folder.size, folder.channels))
        if kind == "arrays":
            arrays = self._arrays()
            x, y = (arrays.get("x"), arrays.get("y")) if "x" in arrays else (
                arrays.get("x_train"), arrays.get("y_train"))
            if x is None or y is None:  # the error names the arrays there are
                npz_dataset(arrays, str(data), val_size, None, None, None)
            rows = sum(len(v) for k, v in arrays.items() if k.startswith("y"))
            return facts_of("arrays", str(data), x, y, rows)
        found = self.dataset(val_size=val_size)  # a registered dataset comes split
        return facts_of("dataset", found.name, found.x_train, found.y_train,
                         len(found.x_train) + len(found.x_val) + len(found.x_test),
                         found.task, found.class_names)

    def _split(self, val_size: float, task: str | None, names: list[str] | None,
               classes: int | None, image_size: tuple[int, int] | None, batch_size: int,
               seed: int, in_memory: bool) -> Dataset | Streams:
        data = self.data
        if isinstance(data, (Dataset, Streams)):
            return data
        if is_tf_dataset(data) or _is_stream_dict(data):
            return streams_from(data, val_size, task or "classification", names)
        if is_table(data) or self.target is not None:
            return self._table(val_size, task, names)
        if isinstance(data, (str, Path)):
            return self._split_path(val_size, task, names, classes, image_size, batch_size,
                                    seed, in_memory)
        if isinstance(data, tuple) and len(data) == 2:
            y = np.asarray(data[1])
            return split(data[0], y, val_size=val_size, test_size=TEST_SIZE, seed=0, task=task,
                         class_names=names or index_names(y, classes))
        if isinstance(data, dict) and {"train", "val"} <= set(data):
            empty = (np.asarray(data["train"][0])[:0], np.asarray(data["train"][1])[:0])
            parts = [tuple(np.asarray(a) for a in data.get(k, empty))
                     for k in ("train", "val", "test")]
            return Dataset("data", *parts[0], *parts[1], *parts[2],
                           task=task or "classification", class_names=names)
        raise DataError(
            "Invalid data. Expected a registered dataset name (e.g. 'digits'), a table file or "
            "DataFrame with a target, a .npz file, an image folder, a kerakit.Dataset, an (x, y) "
            f"tuple, or a dict of (x, y) splits. Received: {type(data).__name__}"
        )

    def _table(self, val_size: float, task: str | None, names: list[str] | None) -> Dataset:
        from kerakit.sources.tables import split_table

        return split_table(self._analysis(), val_size=val_size, test_size=TEST_SIZE,
                           class_names=names, task=task)

    def _analysis(self) -> Any:
        """The table analysed for this source's column kinds, once per distinct kinds.

        Analyses are kept with the reads, under the kinds asked for and the
        kinds found, so a declaration that records the kinds a first look
        inferred gets that first analysis back.
        """
        from kerakit.sources.tables import analyse_table

        if self.target is None:
            raise DataError("Invalid data: a DataFrame needs its target. Expected "
                            "kk.fit(decl, frame, target='column'). Received: no target; "
                            f"columns {', '.join(map(str, self.data.columns))}")
        analyses = self._reads.setdefault("analyses", {})
        key = tuple(sorted((self.columns or {}).items()))
        if key not in analyses:
            frame, name = self.data, "data"
            if isinstance(frame, (str, Path)):
                frame, name = self._frame(), str(self.data)
            found = analyse_table(frame, self.target, self.columns, name)
            analyses[key] = analyses.setdefault(tuple(sorted(found.kinds.items())), found)
        return analyses[key]

    def _split_path(self, val_size: float, task: str | None, names: list[str] | None,
                    classes: int | None, image_size: tuple[int, int] | None, batch_size: int,
                    seed: int, in_memory: bool) -> Dataset | Streams:
        kind = self._path_kind()
        if kind == "images":
            from kerakit.sources.images import image_folder

            return image_folder(self._folder(), image_size=image_size, batch_size=batch_size,
                                val_size=val_size, test_size=TEST_SIZE, seed=seed,
                                in_memory=in_memory)
        if kind == "arrays":
            return npz_dataset(self._arrays(), str(self.data), val_size, task,
                                names, classes)
        created = self._reads.setdefault("created", {})  # per validation fraction
        if val_size not in created:
            dataset = self._registry().get("datasets", str(self.data))
            created[val_size] = dataset.create(val_size=val_size)
        return created[val_size]

    def _path_kind(self) -> str | None:
        """``"table"``, ``"arrays"``, ``"images"`` or ``"dataset"`` for a path or name."""
        if not isinstance(self.data, (str, Path)):
            return None
        path = Path(self.data)
        if is_table_path(path):
            if self.target is None:
                raise DataError(f"Invalid data {str(path)!r}: a table needs its target. "
                                "Expected target='column' (--target COL). Received: no target")
            return "table"
        if path.suffix.lower() in ARRAY_SUFFIXES:
            return "arrays"
        if path.is_dir():
            return "images"
        if self._registered():
            return "dataset"
        if isinstance(self.data, str) and ("/" in self.data or path.suffix):
            raise DataError(f"Invalid data path {str(path)!r}. Expected an existing "
                            f"{', '.join((*TABLE_SUFFIXES, *ARRAY_SUFFIXES))} file, or a "
                            "folder of images. Received: "
                            f"{'a file of another kind' if path.exists() else 'no such file'}")
        return "dataset"  # the registry's error lists the datasets there are

    def _registered(self) -> bool:
        data = self.data
        return isinstance(data, str) and not Path(data).exists() and (
            ("datasets", data) in self._registry())

    def _registry(self) -> Any:
        if self.registry is None:
            from kerakit.registry.discovery import current_registry

            self.registry = current_registry()
        return self.registry

    # -- the one read of each kind of file ------------------------------------------

    def _frame(self) -> Any:
        if "frame" not in self._reads:
            from kerakit.sources.formats import read_table

            self._reads["frame"] = read_table(self.data)
        return self._reads["frame"]

    def _folder(self) -> Any:
        if "folder" not in self._reads:
            from kerakit.sources.images import scan_folder

            self._reads["folder"] = scan_folder(self.data)
        return self._reads["folder"]

    def _arrays(self) -> dict[str, np.ndarray]:
        if "arrays" not in self._reads:
            self._reads["arrays"] = read_arrays(self.data)
        return self._reads["arrays"]


def as_source(data: Any, target: str | Sequence[str] | None = None, *,
              columns: Mapping[str, str] | None = None, registry: Any = None) -> Source:
    """``data`` as a :class:`Source`; a source is kept, with ``columns`` applied.

    Raises:
        DataError: for a source given with another target.
    """
    if isinstance(data, Source):
        wanted = [target] if isinstance(target, str) else list(target or [])
        given = [data.target] if isinstance(data.target, str) else list(data.target or [])
        if wanted and wanted != given:
            raise DataError(f"Invalid `target` for {data!r}. Expected the source's own target "
                            f"or none. Received: target={target!r}")
        return data.with_columns(columns) if columns is not None else data
    return Source(data, target, columns=columns, registry=registry)


def with_target(data: Any, target: str | Sequence[str] | None) -> Any:
    """``data`` with its target column(s), in the form :class:`Source` reads.

    Example:
        >>> with_target("penguins.csv", "species")
        {'table': 'penguins.csv', 'target': 'species'}

    Raises:
        DataError: for a target given with data that has no columns.
    """
    if target is None or (not isinstance(target, str) and not list(target)):
        return data
    if isinstance(data, Source):
        return as_source(data, target)
    if not (is_table(data) or isinstance(data, (str, Path))):
        raise DataError("Invalid `target`. Expected it with a table file or a DataFrame. "
                        f"Received: target={target!r} with data of type {type(data).__name__}")
    return {"table": data, "target": target if isinstance(target, str) else list(target)}


def _is_stream_dict(data: Any) -> bool:
    return isinstance(data, dict) and any(map(is_tf_dataset, data.values()))
