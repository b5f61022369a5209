"""Ray Data's read for `--engine ray`: the input file as a stream of the local labeler's units.

One read task streams the file (Ray opens it: a local path or any URI pyarrow knows)
through the local reader's record logic: JSONL split at b"\\n" only and numbered as
readers.py numbers it (blank lines count as lines, not records; a line that is not a JSON
object is a record with its problem, not a failed read), .gz decompressed by Python's gzip
as the local reader does (so a cut-off tail ends at the same line), CSV through
csv_input.py, Parquet batch by batch. It then checks the
texts and cuts units with run.py's `units`, as the local engine does, so every unit that
reaches a tagging actor is one the local engine would tag. Each unit travels as one row (a pickled
`_Unit`), so Ray can give units to actors one at a time but never split one.

Imports ray: only the Ray engine imports this module.
"""

from __future__ import annotations

import gzip
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ray.data.datasource import FileBasedDatasource

from serving.labeling import arrow
from serving.labeling.csv_input import csv_rows, header_names
from serving.labeling.job import LabelingError, LabelJob
from serving.labeling.readers import (
    ARROW_BATCH_ROWS,
    Cursor,
    Reader,
    Record,
    csv_records,
    gzip_lines,
    input_kind,
    jsonl_lines,
)
from serving.labeling.run import units

READ_BYTES = 1 << 20  # JSONL bytes read at a time


class UnitSource(FileBasedDatasource):
    """One input file as rows {"unit": pickled `_Unit`}, from the records after `start` on.
    `columns`: a CSV file's header (its cells are read as strings)."""

    def __init__(
        self,
        path: str,
        kind: str,
        job: LabelJob,
        start: Cursor,
        columns: list[str] | None,
        local: bool,
    ) -> None:
        super().__init__(path)
        self.kind, self.job, self.start, self.columns = kind, job, start, columns
        self.local = local

    @property
    def supports_distributed_reads(self) -> bool:
        return not self.local  # a local file: Ray reads it on this machine's node

    def _open_input_source(self, filesystem: Any, path: str, **open_args: Any) -> Any:
        if self.kind == "parquet":  # Parquet needs random access, not a stream
            return filesystem.open_input_file(path)
        # Not Ray's inferred compression: .gz is decompressed in _read_stream, by Python's
        # gzip as locally (pyarrow's drops the last MiB or so before a cut-off tail).
        return filesystem.open_input_stream(path, compression=None)

    def _read_stream(self, f: Any, path: str) -> Iterator[Any]:
        pa = arrow.pyarrow()
        name = Path(path).name
        if self.kind == "jsonl":
            gz = name.lower().endswith(".gz")
            lines = gzip_lines(gzip.GzipFile(fileobj=f), name) if gz else _lines(f)
            records = jsonl_records(lines, self.start)
        elif self.kind == "csv":
            records = csv_stream_records(f, name, self.columns or [], self.start)
        else:
            records = parquet_records(f, self.start)
        for unit in units(records, self.job):
            yield pa.table({"unit": pa.array([pickle.dumps(unit, protocol=5)], pa.large_binary())})


def _lines(f: Any) -> Iterator[bytes]:
    """Lines as a Python binary file yields them: split at b"\\n" only, each keeping it
    (not str.splitlines, which also splits at U+2028 inside a JSON string)."""
    parts: list[bytes] = []
    while chunk := f.read(READ_BYTES):
        *lines, last = chunk.split(b"\n")
        if lines:
            lines[0] = b"".join([*parts, lines[0]])
            parts = []
            for line in lines:
                yield line + b"\n"
        if last:
            parts.append(last)
    if parts:
        yield b"".join(parts)


def jsonl_records(lines: Iterator[Any], start: Cursor) -> Iterator[Record]:
    """The local reader's JSONL records over a stream (no seeking): same numbers, cursors
    and problems."""
    for record in jsonl_lines(lines, Cursor(0, 0, 0)):
        if record.cursor.records > start.records:
            yield record


def csv_stream_records(f: Any, name: str, columns: list[str], start: Cursor) -> Iterator[Record]:
    """The local reader's CSV records over a stream (no seeking)."""
    rows = csv_rows(f, name)
    next(rows, None)  # the header
    for record in csv_records(rows, columns, 0):
        if record.cursor.records > start.records:
            yield record


def parquet_records(f: Any, start: Cursor) -> Iterator[Record]:
    records = 0
    for batch in arrow.parquet().ParquetFile(f).iter_batches(batch_size=ARROW_BATCH_ROWS):
        if records + batch.num_rows <= start.records:
            records += batch.num_rows
            continue
        skip = max(0, start.records - records)
        records += skip
        for fields in batch.slice(skip).to_pylist():
            records += 1
            yield Record(records, "row", fields, None, Cursor(records, 0, 0))


class UriInput(Reader):
    """A URI input as the run loop sees a Reader: its kind and columns (Ray reads it)."""

    local = False

    def __init__(self, uri: str, text_field: str) -> None:
        self.path = Path(uri)  # names it only: Path turns "s3://" into "s3:/"
        self.kind = input_kind(self.path)
        self.schema = None if self.kind == "jsonl" else uri_schema(uri, self.kind, text_field)

    def total(self) -> int | None:
        return None


def _fs() -> Any:
    import pyarrow.fs  # type: ignore[import-untyped, unused-ignore]

    return pyarrow.fs


def uri_schema(uri: str, kind: str, text_field: str) -> Any:
    """The columns of a CSV or Parquet URI, checked as `Reader` checks a local file's."""
    pa = arrow.pyarrow()
    try:
        filesystem, path = _fs().FileSystem.from_uri(uri)
        if kind == "parquet":
            with filesystem.open_input_file(path) as f:
                schema = arrow.parquet().ParquetFile(f).schema_arrow.remove_metadata()
        else:
            with filesystem.open_input_stream(path) as f:
                header = next(csv_rows(f, Path(path).name), None)
    except (OSError, ValueError) as err:
        raise LabelingError(f"cannot read {uri} as {kind}: {err}") from None
    if kind != "parquet":
        schema = pa.schema([(n, pa.string()) for n in header_names(header, uri)])
    names = list(schema.names)
    if text_field not in names:
        raise LabelingError(
            f"{uri} has no column {text_field!r} (columns: {', '.join(names)}); "
            "name the text column with --text-field"
        )
    return schema


def uri_fingerprint(uri: str) -> str:
    """Size and modification time: what a rerun can check of a remote input cheaply."""
    fs = _fs()
    try:
        filesystem, path = fs.FileSystem.from_uri(uri)
        info = filesystem.get_file_info(path)
    except (OSError, ValueError) as err:
        raise LabelingError(f"cannot read {uri}: {err}") from None
    if info.type != fs.FileType.File:
        raise LabelingError(f"{uri} does not exist or is not a file")
    return f"{info.size}:{info.mtime_ns}"
