"""A table too large for memory, read in chunks for :mod:`kerakit.deploy.batch_predict`.

The input is a CSV, TSV or Parquet file, a folder of them or a glob; its
files are read one after another in name order, each with pyarrow's own
streaming reader (``pyarrow.csv.open_csv``, ``ParquetFile.iter_batches``),
which holds one block or row group at a time. pyarrow's dataset scanner was
tried first: on a 350 MB CSV it buffered over 300 MB ahead of the consumer
even with ``batch_readahead=1``, where the per-file readers stay under 40 MB.

Columns are matched to the export's inputs and their values checked by the
same functions as ``kerakit predict`` on a small file
(:func:`kerakit.sources.rows.match_columns` and
:func:`kerakit.sources.rows.typed_rows`), with rows numbered across the whole
input.
"""

from __future__ import annotations

import csv
import glob
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from kerakit.errors import DataError, UsageError
from kerakit.sources.rows import match_columns, typed_rows

__all__ = ["TableChunks"]

#: file suffix -> the format read
_FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
#: pyarrow's CSV reader reads dozens of blocks ahead: 1 MiB blocks held about 90 MB, 256 KiB
#: blocks 40 MB, at the same speed (a row must fit in one block)
_CSV_BLOCK = 1 << 18


class TableChunks:
    """The rows of a table input, in chunks, typed for a table export's inputs.

    Example:
        >>> table = TableChunks("big.csv", manifest["inputs"])  # doctest: +SKIP
        >>> for chunk in table.chunks(100_000):  # doctest: +SKIP
        ...     arrays = table.arrays(chunk, first_row=0)

    Args:
        input: A .csv, .tsv or .parquet file, a folder of them (searched
            recursively, skipping names that start with ``.`` or ``_``), or a glob.
        inputs: The export manifest's ``inputs``.
        columns: The declaration's column kinds, keyed by the raw column names.
        id_column: A column to read as well, as text from a CSV.
        skip: A folder whose files are never input (the output's work folder).

    Raises:
        DataError: for no table files, mixed formats, an unreadable file, or a
            file that lacks a column the model takes.
        UsageError: for an ``id_column`` that is not in the input.
    """

    def __init__(self, input: str | Path, inputs: Sequence[Mapping[str, Any]],
                 columns: Mapping[str, str] | None = None, id_column: str | None = None,
                 skip: Path | None = None) -> None:
        import pyarrow as pa

        self.name, self.inputs, self.id_column = str(input), inputs, id_column
        self.files, self.format = _input_files(input, skip)
        where = f"input file {self.name!r}" if len(self.files) == 1 else f"input {self.name!r}"
        try:
            names = self._header(self.files[0])
            self.by_input = match_columns(names, inputs, columns, where)
            if id_column is not None and id_column not in names:
                raise UsageError(f"Invalid value for `--id`: {self.name!r} has no column "
                                 f"{id_column!r}. Expected one of its columns: {names}. "
                                 f"Received: --id {id_column!r}")
            self.columns = list(dict.fromkeys([*self.by_input.values(),
                                               *filter(None, [id_column])]))
            for file in self.files[1:]:
                absent = [c for c in self.columns if c not in self._header(file)]
                if absent:
                    raise DataError(f"Invalid {where}: column {absent[0]!r} is missing from "
                                    f"{str(file)!r}. Expected every file to have the "
                                    f"columns {self.columns}. Received: {self._header(file)}")
            self.total = sum(_parquet(f).metadata.num_rows for f in self.files) \
                if self.format == "parquet" else None  # a CSV's rows are known once read
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"Cannot read {where} as a table: {exc}") from exc

    def chunks(self, chunk_rows: int) -> Iterator[Any]:
        """The rows as pyarrow tables of exactly ``chunk_rows`` rows (the last may be shorter).

        The same input gives the same chunks, so that a chunk is known by its number.

        Raises:
            DataError: for a file that cannot be read as a table, naming it.
        """
        import pyarrow as pa

        pending: list[Any] = []
        count = 0
        for file in self.files:
            try:
                for batch in self._batches(file, min(chunk_rows, 65_536)):
                    pending.append(batch)
                    count += batch.num_rows
                    while count >= chunk_rows:
                        table = _joined(pending)
                        yield table.slice(0, chunk_rows)
                        rest = table.slice(chunk_rows)
                        pending, count = rest.to_batches(), rest.num_rows
                if count and file == self.files[-1]:
                    yield _joined(pending)
            except (pa.ArrowException, OSError) as exc:
                raise DataError(f"Cannot read {str(file)!r} as a table: {exc}") from exc

    def arrays(self, table: Any, first_row: int) -> dict[str, Any]:
        """A chunk's columns as the export's inputs, checked as a whole file's are.

        Args:
            table: A chunk from :meth:`chunks`.
            first_row: Its first row's number in the whole input, for errors.

        Returns:
            One NumPy array per input.

        Raises:
            DataError: for a bad value, naming the column and the row.
        """
        import pyarrow as pa

        if self.format != "parquet":  # read as text: numbers typed here, as read_table does
            table = pa.table({c: table.column(c) if self._text(c) else _typed_text(table.column(c))
                              for c in self.by_input.values()})
        frame = table.select(list(self.by_input.values())).to_pandas()
        return typed_rows(frame, self.inputs, self.by_input, self.name, first_row)

    def _text(self, column: str) -> bool:
        """Whether the export takes ``column`` as text: then it is passed on as written
        (a chunk of digits only must not turn ``02130`` into ``2130``)."""
        name = next(k for k, v in self.by_input.items() if v == column)
        return any(spec["name"] == name and spec["dtype"] == "string" for spec in self.inputs)

    def _header(self, file: Path) -> list[str]:
        if self.format == "parquet":
            return list(_parquet(file).schema_arrow.names)
        # the header line alone: pyarrow's reader would also read and type a first block
        with open(file, encoding="utf-8-sig", newline="") as handle:
            names = next(csv.reader(handle, delimiter="\t" if self.format == "tsv" else ","), [])
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated or not names:
            raise DataError(f"Invalid data file {str(file)!r}. Expected a header of unique "
                            f"column names. Received: {repeated or 'an empty file'}")
        return names

    def _batches(self, file: Path, batch_rows: int) -> Iterator[Any]:
        if self.format == "parquet":
            yield from _parquet(file).iter_batches(batch_size=batch_rows, columns=self.columns)
            return
        with self._open_csv(file, self.columns) as reader:
            yield from reader

    def _open_csv(self, file: Path, columns: list[str]) -> Any:
        """pyarrow's streaming CSV reader; ``columns`` are read, all of them as text.

        Text, because a CSV reader types each column from its first block: a
        bad value further on would stop it without naming the row, where
        :meth:`arrays` has the value checks name it.
        """
        import pyarrow as pa
        import pyarrow.csv as pacsv

        try:  # pandas' own list, so that a missing cell reads as read_table reads it
            from pandas._libs.parsers import STR_NA_VALUES
            nulls = sorted(STR_NA_VALUES)
        except ImportError:  # pragma: no cover - pyarrow's default list is nearly the same
            nulls = None
        convert = pacsv.ConvertOptions(
            column_types={c: pa.string() for c in columns}, include_columns=columns,
            strings_can_be_null=True, null_values=nulls)
        return pacsv.open_csv(
            file, read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK),
            parse_options=pacsv.ParseOptions(delimiter="\t" if self.format == "tsv" else ","),
            convert_options=convert)


def _parquet(file: Path) -> Any:
    import pyarrow.parquet as pq

    return pq.ParquetFile(file)


def _joined(batches: list[Any]) -> Any:
    """Record batches as one table; files that stored a column as int64 and as double agree."""
    import pyarrow as pa

    return pa.concat_tables([pa.Table.from_batches([b]) for b in batches],
                            promote_options="permissive")


def _typed_text(column: Any) -> Any:
    """A CSV column read as text, typed as pandas' reader types a column: integers, else
    numbers, else text (which the value checks then refuse, naming the row)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for type in (pa.int64(), pa.float64()):
        try:
            return pc.cast(column, type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return column


def _input_files(input: str | Path, skip: Path | None) -> tuple[list[Path], str]:
    """The input's table files in name order, and their one format."""
    path = Path(input)
    skipped = skip.resolve() if skip is not None else None

    def wanted(file: Path) -> bool:
        return file.is_file() and (skipped is None or skipped not in file.resolve().parents)

    if path.is_dir():
        files = [p for p in sorted(path.rglob("*")) if wanted(p)
                 and p.suffix.lower() in _FORMATS
                 and not any(s.startswith((".", "_")) for s in p.relative_to(path).parts)]
    elif path.exists() or not glob.has_magic(str(input)):
        files = [path] if path.is_file() else []
    else:
        files = sorted(p for p in map(Path, glob.glob(str(input), recursive=True)) if wanted(p))
    formats = {_FORMATS.get(p.suffix.lower()) for p in files}
    if not files or None in formats or len(formats) > 1:
        found = sorted({p.suffix or "suffix-less" for p in files}) or "no files"
        raise DataError(f"Invalid input {str(input)!r}. Expected a .csv, .tsv or .parquet "
                        "file, or a folder or glob of files of one of those formats. "
                        f"Received: {found}")
    return files, str(formats.pop())
