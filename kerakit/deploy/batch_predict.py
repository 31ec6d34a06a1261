"""``kerakit predict`` on tables larger than memory: streamed in chunks, resumable after a kill.

The input (a CSV, TSV or Parquet file, a folder of them, or a glob) is read
in chunks of ``chunk_rows`` rows (:class:`kerakit.deploy.batch_input.TableChunks`).
Each chunk is checked as :func:`kerakit.sources.rows.read_rows` checks a
whole file, run through the export, loaded once, and written as one part
file in a work directory beside the target, ``OUT.partial/``. At the end
the parts are combined into ``OUT`` (written under another name, then
renamed) and the work directory is removed, so ``OUT`` is never seen
half-written.

Resuming: ``OUT.partial/progress.json`` records what the parts are made
from: each input file's path, size and modification time, the SHA-256 of the
export's manifest (which holds every export file's hash), the chunk size, the
``--id`` column and the output format. The same command run again after a
kill skips the chunks whose parts exist, so no row is predicted or written
twice. Anything else is refused, naming what differs; ``restart=True``
(``--restart``) discards the parts and starts over.

When ``kerakit predict`` streams: see :func:`stream_reason`.
"""

from __future__ import annotations

import glob
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from kerakit.deploy.batch_input import TableChunks
from kerakit.deploy.export_files import MANIFEST, check_hashes
from kerakit.deploy.predict import check_class_names, check_outputs, export_directory, open_export
from kerakit.errors import DataError, UsageError
from kerakit.fileops import atomic_path, commit_file, remove_stale_temps, write_atomic
from kerakit.runs.locks import hold_lock
from kerakit.sources.formats import is_table_path

__all__ = ["CHUNK_ROWS", "STREAM_BYTES", "predict_stream", "stream_reason"]

#: a table file larger than this is streamed, not read into memory (100 MB)
STREAM_BYTES = 100_000_000
#: rows per chunk, and per part file, unless ``--chunk-rows`` says otherwise
CHUNK_ROWS = 32_768
#: rows per call of the model: bounds its activations whatever the chunk size
_MODEL_ROWS = 16_384
_OUTPUTS = (".parquet", ".csv")
_STATE = "progress.json"


def stream_reason(export_dir: str | Path, input: str | Path, out: str | None, *,
                  id_column: str | None = None, chunk_rows: int | None = None,
                  restart: bool = False, as_json: bool = False) -> str | None:
    """Why ``kerakit predict`` streams ``input`` into ``out``, or None for the in-memory path.

    Asked for, and then needing ``--out`` ending in .parquet or .csv: ``--out``
    ending in .parquet, ``--id``, ``--chunk-rows`` or ``--restart``, or an
    input that is a folder or a glob. Chosen when ``--out`` ends in .csv or
    .parquet and the export takes table rows: a Parquet input, or an input
    file larger than :data:`STREAM_BYTES` (100 MB). Everything else, output
    to stdout and ``--json`` included, keeps the in-memory path.

    Example:
        >>> stream_reason("exports/t", "rows.csv", None) is None
        True

    Args:
        export_dir: The export (its manifest is read, not checked).
        input: The input path or glob.
        out: ``--out``, or None for stdout.
        id_column: ``--id``.
        chunk_rows: ``--chunk-rows``.
        restart: ``--restart``.
        as_json: ``--json``.

    Returns:
        The reason, or None.

    Raises:
        UsageError: when streaming is asked for without ``--out`` ending in
            .parquet or .csv.
    """
    path, suffix = Path(input), Path(out or "").suffix.lower()
    asked = {"--out ending in .parquet": suffix == ".parquet", "--id": id_column is not None,
             "--chunk-rows": chunk_rows is not None, "--restart": restart,
             "a folder input": path.is_dir(),
             "a glob input": not path.exists() and glob.has_magic(str(input))}
    reason = next((k for k, v in asked.items() if v), None)
    if reason is not None:
        if suffix not in _OUTPUTS or as_json:
            raise UsageError(f"Invalid use of {reason}: predictions are then streamed to a "
                             "file. Expected --out ending in .parquet or .csv, without --json. "
                             f"Received: --out {out}{' --json' if as_json else ''}")
        return reason
    big = path.is_file() and is_table_path(path) and path.stat().st_size > STREAM_BYTES
    if as_json or not path.is_file() or not _takes_rows(export_dir):
        return None
    if suffix not in _OUTPUTS:
        if big:
            print(f"note: {str(input)!r} is read into memory whole; --out preds.parquet "
                  "would stream it", file=sys.stderr)
        return None
    if path.suffix.lower() in (".parquet", ".pq"):
        return "a Parquet input"
    return f"an input over {STREAM_BYTES // 1_000_000} MB" if big else None


def _takes_rows(export_dir: str | Path) -> bool:
    """Whether the export takes named table columns (read from its manifest, unchecked)."""
    try:
        manifest = json.loads((export_directory(export_dir) / MANIFEST).read_text())
        return manifest["inputs"][0]["name"] != "inputs"
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return False  # the in-memory path names what is wrong with the export


def predict_stream(export_dir: str | Path, input: str | Path, out: str | Path, *,
                   id_column: str | None = None, chunk_rows: int | None = None,
                   restart: bool = False, progress: bool = True) -> dict[str, Any]:
    """Predict every row of a table too large for memory, resuming an interrupted run.

    Example:
        >>> predict_stream("exports/t", "big.csv", "preds.parquet")  # doctest: +SKIP
        {'rows': 4000000, 'parts': 123, 'resumed_parts': 0, 'out': 'preds.parquet'}

    Args:
        export_dir: A table export written by ``kerakit export``.
        input: A .csv, .tsv or .parquet file, a folder of them, or a glob.
        out: The predictions, a .parquet or .csv file: the ``id_column`` (or
            ``row``, each row's 0-based number across the input files in name
            order), then ``class``, ``probability`` and ``p_<class>`` for a
            classifier, or ``output_<i>``.
        id_column: An input column copied into the output to identify each row
            (from a CSV, as written: text).
        chunk_rows: Rows per chunk and part (default :data:`CHUNK_ROWS`).
        restart: Discard the parts of an interrupted run made from other inputs.
        progress: Show rows done and rows per second on stderr.

    Returns:
        ``{"rows", "parts", "resumed_parts", "out"}``.

    Raises:
        UsageError: for a bad ``out``, ``id_column`` or ``chunk_rows``, or
            parts made from other inputs without ``restart``.
        ExportError: for an export whose files do not match its manifest.
        DataError: for a bad input, naming the column and the row.
    """
    chunk_rows = CHUNK_ROWS if chunk_rows is None else chunk_rows
    target = Path(out)
    if target.suffix.lower() not in _OUTPUTS or target.is_dir() or chunk_rows < 1:
        raise UsageError("Invalid arguments for streamed prediction. Expected --out FILE "
                         "ending in .parquet or .csv and a positive --chunk-rows. Received: "
                         f"--out {str(out)!r} --chunk-rows {chunk_rows}")
    directory = export_directory(export_dir)
    manifest = check_hashes(directory)
    source = _open_input(input, manifest, id_column, target)
    identity = {"inputs": [_identity(f) for f in source.files],
                "export": hashlib.sha256((directory / MANIFEST).read_bytes()).hexdigest(),
                "chunk_rows": chunk_rows, "id": id_column, "output": target.suffix.lower()}
    with hold_lock(target, "prediction output"):
        work = _work_dir(target, identity, restart)
        run = open_export(directory, manifest)  # a missing runtime: the parts stay for later
        done = _Progress(source.total, progress)  # rows/s from here: the model is loaded
        try:
            parts, skipped = _write_parts(source, run, manifest, work, chunk_rows, done)
        except DataError as exc:
            if isinstance(exc.__cause__, OSError):
                raise  # a read that failed may pass next time: the parts stay
            shutil.rmtree(work)  # a bad value fails again in the same place
            raise
        _combine(work, target, parts)
        shutil.rmtree(work)
    print(f"wrote {done.rows:,} predictions to {target}"
          + (f" ({skipped} of {len(parts)} parts from the interrupted run)" if skipped else ""),
          file=sys.stderr)
    return {"rows": done.rows, "parts": len(parts), "resumed_parts": skipped, "out": str(target)}


def _open_input(input: str | Path, manifest: Mapping[str, Any], id_column: str | None,
                target: Path) -> TableChunks:
    """The input, refused for an export that takes arrays or when it holds the target."""
    if manifest["inputs"][0]["name"] == "inputs":
        raise UsageError(f"Invalid export for the table {str(input)!r}. Expected an export of "
                         "a model trained on a table. Received: one taking arrays")
    source = TableChunks(input, manifest["inputs"], manifest.get("columns"), id_column,
                         skip=_work_path(target))
    if target.resolve() in {f.resolve() for f in source.files}:
        raise UsageError(f"Invalid value for `--out`: {str(target)!r} is one of the input "
                         f"files. Expected a file outside the input. Received: --out {target}")
    return source


def _identity(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _work_path(target: Path) -> Path:
    return target.with_name(f"{target.name}.partial")


def _work_dir(target: Path, identity: dict[str, Any], restart: bool) -> Path:
    """The work directory, resumed when its parts were made from the same inputs.

    Raises:
        UsageError: for parts made from anything else, unless ``restart``.
    """
    work = _work_path(target)
    state = work / _STATE
    if not restart and work.is_dir() and not state.is_file() and any(work.iterdir()):
        raise UsageError(f"Cannot resume the predictions in {str(work)!r}: it has no {_STATE}. "
                         "Expected the work folder of an interrupted `kerakit predict`. "
                         f"Received: {sorted(p.name for p in work.iterdir())[:5]}. Add "
                         "--restart to discard it and start over.")
    if restart or not any(work.glob("part-*")):  # no parts: nothing to lose
        shutil.rmtree(work, ignore_errors=True)
    if state.is_file():
        try:
            recorded = json.loads(state.read_text())
        except ValueError:
            recorded = {}
        expected = json.loads(json.dumps(identity))  # as it reads back: lists, not tuples
        differs = [k for k in expected if recorded.get(k) != expected[k]]
        if differs:
            said = {"inputs": "input files (or their sizes or times)", "export": "export",
                    "chunk_rows": "--chunk-rows", "id": "--id", "output": "--out format"}
            shown = [f"{said[k]} {recorded.get(k)!r} then, {expected[k]!r} now"
                     if k in ("chunk_rows", "id", "output") else f"other {said[k]}"
                     for k in differs]
            raise UsageError(
                f"Cannot resume the predictions in {str(work)!r}: they were made with another "
                f"{', '.join(said[k] for k in differs)}. Expected the interrupted command's "
                "input files (same sizes and times), export, --chunk-rows, --id and --out "
                f"format. Received: {'; '.join(shown)}. Add --restart to discard them and "
                "start over.")
        remove_stale_temps(work)  # parts a killed writer left under a temporary name
        return work
    work.mkdir(parents=True)
    write_atomic(state, json.dumps({**identity, "parts_done": 0, "rows_done": 0}, indent=1))
    return work


def _write_parts(source: TableChunks, run: Callable[[Any], np.ndarray],
                 manifest: Mapping[str, Any], work: Path, chunk_rows: int,
                 progress: _Progress) -> tuple[list[Path], int]:
    """Predict each chunk whose part is not there yet; returns every part and how many were."""
    suffix = work.name.removesuffix(".partial").rsplit(".", 1)[-1].lower()
    parts, skipped = [], 0
    for index, table in enumerate(source.chunks(chunk_rows)):
        first, part = index * chunk_rows, work / f"part-{index:06d}.{suffix}"
        parts.append(part)
        resumed = part.exists()
        if resumed:
            skipped += 1
        else:
            arrays = source.arrays(table, first)
            outputs = np.concatenate([run({k: v[a:a + _MODEL_ROWS] for k, v in arrays.items()})
                                      for a in range(0, table.num_rows, _MODEL_ROWS)])
            check_outputs({"outputs": outputs},
                          f"input {source.name!r} (the chunk from its row {first})")
            lead = (source.id_column, table.column(source.id_column)) if source.id_column \
                else ("row", np.arange(first, first + table.num_rows))
            _write_part(_predictions(outputs, manifest.get("class_names"), lead), part,
                        header=index == 0)
            write_atomic(work / _STATE, json.dumps({
                **json.loads((work / _STATE).read_text()), "parts_done": index + 1,
                "rows_done": first + table.num_rows}, indent=1), durable=False)
        progress.update(table.num_rows, fresh=not resumed)
    if not parts:
        raise DataError(f"Invalid input {source.name!r}. Expected at least one row of data. "
                        "Received: none")
    progress.update(0, final=True)
    return parts, skipped


def _predictions(outputs: np.ndarray, names: Any, lead: tuple[str, Any]) -> Any:
    """The chunk's predictions as a table, with the columns ``format_predictions`` gives."""
    import pyarrow as pa

    check_class_names(names)
    outputs = np.asarray(outputs)
    columns: dict[str, Any] = {lead[0]: lead[1]}
    if names is not None and outputs.ndim == 2 and outputs.shape[1] == len(names):
        best = outputs.argmax(axis=1)
        predicted = {"class": pa.array(np.asarray(names, dtype=object)[best], pa.string()),
                     "probability": outputs[np.arange(len(outputs)), best].astype("float64"),
                     **{f"p_{n}": outputs[:, i].astype("float64") for i, n in enumerate(names)}}
    else:
        flat = outputs.reshape(len(outputs), -1).astype("float64")
        predicted = {f"output_{i}": flat[:, i] for i in range(flat.shape[1])}
    if lead[0] in predicted:
        raise UsageError(f"Invalid value for `--id`: the column {lead[0]!r} would repeat a "
                         f"prediction column. Expected a name other than {list(predicted)}. "
                         f"Received: --id {lead[0]!r}")
    return pa.table({**columns, **predicted})


def _write_part(table: Any, part: Path, header: bool) -> None:
    """One part, under a temporary name until complete; CSV parts after the first lack a header."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    with atomic_path(part) as tmp:
        if part.suffix == ".csv":
            pacsv.write_csv(table, tmp, pacsv.WriteOptions(include_header=header,
                                                           quoting_style="needed"))
        else:
            pq.write_table(table, tmp)


def _combine(work: Path, target: Path, parts: list[Path]) -> None:
    """The parts, in order, as one file put at ``target`` in one rename."""
    import pyarrow.parquet as pq

    combined = work / f"combined{parts[0].suffix}"  # rewritten whole if a kill interrupts it
    if parts[0].suffix == ".csv":
        with open(combined, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
    else:
        first = pq.read_schema(parts[0])
        with pq.ParquetWriter(combined, first) as writer:
            for part in parts:  # one part in memory at a time
                writer.write_table(pq.read_table(part, schema=first))
    commit_file(combined, target)


class _Progress:
    """Rows done (of the total, when known) and rows per second, on stderr."""

    def __init__(self, total: int | None, enabled: bool) -> None:
        self.total, self.enabled, self.rows, self.fresh = total, enabled, 0, 0
        self.start = self.last = time.monotonic()
        self.tty = sys.stderr.isatty()

    def update(self, rows: int, fresh: bool = True, final: bool = False) -> None:
        self.rows += rows
        self.fresh += rows if fresh else 0
        now = time.monotonic()
        # a terminal redraws one line; a log gets a line every ten seconds
        if not self.enabled or (not final and now - self.last < (0.5 if self.tty else 10)):
            return
        self.last = now
        rate = self.fresh / max(now - self.start, 1e-9)
        if self.total:
            filled = int(30 * self.rows / self.total)
            shown = (f"[{'#' * filled}{'.' * (30 - filled)}] {self.rows:,}/{self.total:,} rows")
        else:
            shown = f"{self.rows:,} rows"
        line = f"predict {shown}, {rate:,.0f} rows/s"
        print(f"\r{line}" if self.tty else line, end="\n" if final or not self.tty else "",
              file=sys.stderr, flush=True)
