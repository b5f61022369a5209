"""Input records from JSONL (plain or gzip), CSV and Parquet, from any position on.

Every field passes through as read; CSV cells stay strings (no type guessing, so "007"
stays "007"). A line or row that is not a record still yields a `Record`, with the
problem, so that it can be reported and counted; so does a damaged .gz tail, as the last
record.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from serving.labeling import arrow
from serving.labeling.csv_input import CsvRow, csv_rows, header_names, malformed
from serving.labeling.job import LabelingError

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
INPUT_SUFFIXES = (*JSONL_SUFFIXES, ".csv", *PARQUET_SUFFIXES)
ARROW_BATCH_ROWS = 1024  # rows per pyarrow batch read from Parquet
# Deeper JSON is refused (serde_json's default limit): Python's json, pickle (the Ray
# engine ships records pickled) and the writers recurse per level and fail near 1,000.
MAX_JSON_DEPTH = 128


class Cursor(NamedTuple):
    """How far the input is consumed: records, physical lines and bytes (JSONL, CSV; for
    .gz, decompressed bytes)."""

    records: int = 0
    line: int = 0
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Record:
    number: int  # 1-based line (JSONL) or row (CSV, Parquet; header not counted)
    key: Literal["line", "row"]
    fields: dict[str, Any] | None  # None: not a record (invalid JSON, malformed row)
    problem: str | None  # set: reported, not tagged (fields, if any, give its id)
    cursor: Cursor  # the input consumed up to and including this record


def input_kind(path: Path) -> Literal["jsonl", "csv", "parquet"]:
    name = path.name.lower()
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(".csv"):
        return "csv"
    raise LabelingError(
        f"cannot tell the format of {path} from its name: use one of {', '.join(INPUT_SUFFIXES)}"
    )


class Reader:
    """Records of one input file, from a cursor on; plus its total and Arrow schema when
    they come cheap."""

    local = True  # a file here (not a URI only Ray reads)

    def __init__(self, path: Path, text_field: str) -> None:
        if not path.is_file():
            raise LabelingError(f"{path} does not exist or is not a file")
        self.path = path
        self.kind = input_kind(path)
        self.schema: pa.Schema | None = None  # CSV, Parquet: the columns and their types
        if self.kind != "jsonl":
            self.schema = self._parquet_schema() if self.kind == "parquet" else self._csv_schema()
            if text_field not in self.schema.names:
                raise LabelingError(
                    f"{path} has no column {text_field!r} (columns: "
                    f"{', '.join(self.schema.names)}); name the text column with --text-field"
                )

    def total(self) -> int | None:
        """Records in the file, where counting is cheap (for the ETA); else None."""
        if self.kind == "parquet":
            return int(arrow.parquet().ParquetFile(self.path).metadata.num_rows)
        if self.kind == "jsonl" and not self.path.name.lower().endswith(".gz"):
            return _count_lines(self.path)
        return None  # gzip: a full decompression; CSV: quoted newlines need a full parse

    def records(self, start: Cursor) -> Iterator[Record]:
        if self.kind == "jsonl":
            return _jsonl_records(self.path, start)
        if self.kind == "parquet":
            return _parquet_records(self.path, start)
        assert self.schema is not None
        return _csv_records(self.path, list(self.schema.names), start)

    def _parquet_schema(self) -> pa.Schema:
        try:
            return arrow.parquet().ParquetFile(self.path).schema_arrow.remove_metadata()
        except (OSError, ValueError) as err:
            raise LabelingError(f"{self.path} is not a readable Parquet file: {err}") from None

    def _csv_schema(self) -> pa.Schema:
        pa = arrow.pyarrow()
        with self.path.open("rb") as f:
            names = header_names(next(csv_rows(f, self.path.name), None), str(self.path))
        return pa.schema([(n, pa.string()) for n in names])


def _count_lines(path: Path) -> int:
    lines, last = 0, b"\n"
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


class Break(NamedTuple):
    """Where a stream of lines stops before its end, and why."""

    why: str


def gzip_lines(f: Iterable[bytes], name: str) -> Iterator[bytes | Break]:
    """The lines of a gzip stream; a `Break` last if its data is cut off or damaged, so the
    lines before it are still read."""
    try:
        yield from f
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        yield Break(
            f"the gzip data of {name} is cut off or damaged here ({err}): the lines before "
            "were read, the rest of the file cannot be. Get a complete copy of the file and "
            "label it into a new output"
        )


def _jsonl_records(path: Path, start: Cursor) -> Iterator[Record]:
    gz = path.name.lower().endswith(".gz")
    with gzip.open(path, "rb") if gz else path.open("rb") as f:
        lines: Iterable[bytes | Break] = f
        if gz:  # no cheap seek in a gzip stream: read past the consumed lines
            lines = gzip_lines(f, path.name)
            for _ in zip(range(start.line), lines, strict=False):
                pass  # (a Break among them was reported by the run that consumed it)
        else:
            f.seek(start.offset)
        yield from jsonl_lines(lines, start)


def jsonl_lines(lines: Iterable[bytes | Break], start: Cursor) -> Iterator[Record]:
    """The records of JSONL `lines`, the lines that follow `start`'s line."""
    records, line, offset = start
    for raw in lines:
        line += 1
        if isinstance(raw, Break):
            yield Record(line, "line", None, raw.why, Cursor(records + 1, line, offset))
            return
        offset += len(raw)
        if line == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # a UTF-8 byte order mark, which json.loads refuses
        if not raw.strip():
            continue  # blank lines are not records
        records += 1
        fields, problem = _parse_json(raw)
        yield Record(line, "line", fields, problem, Cursor(records, line, offset))


def _parse_json(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    too_deep = (
        f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep: flatten the record or drop it"
    )
    try:
        value = json.loads(raw)
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
        return None, f"invalid JSON: {err}"
    except RecursionError:
        return None, too_deep
    if not isinstance(value, dict):
        return None, f"the line holds a JSON {type(value).__name__}, not an object"
    # Counting brackets (strings' included) is cheap and bounds the depth from above.
    if raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH and _depth(value) > MAX_JSON_DEPTH:
        return None, too_deep
    return value, None


def _depth(value: Any) -> int:
    deepest, todo = 0, [(value, 1)]
    while todo:
        node, depth = todo.pop()
        deepest = max(deepest, depth)
        children = node.values() if isinstance(node, dict) else node
        todo.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return deepest


def _parquet_records(path: Path, start: Cursor) -> Iterator[Record]:
    file = arrow.parquet().ParquetFile(path)
    # Skip whole row groups through the metadata; slice the rest off the first batch.
    first, before = 0, 0
    meta = file.metadata
    while first < meta.num_row_groups and before + meta.row_group(first).num_rows <= start.records:
        before += meta.row_group(first).num_rows
        first += 1
    groups = list(range(first, meta.num_row_groups))
    if not groups:
        return
    batches = file.iter_batches(batch_size=ARROW_BATCH_ROWS, row_groups=groups)
    skip, records = start.records - before, start.records
    for batch in batches:
        if skip >= batch.num_rows:
            skip -= batch.num_rows
            continue
        for fields in batch.slice(skip).to_pylist():
            records += 1
            yield Record(records, "row", fields, None, Cursor(records, 0, 0))
        skip = 0


def _csv_records(path: Path, names: list[str], start: Cursor) -> Iterator[Record]:
    with path.open("rb") as f:
        if start.records:
            f.seek(start.offset)  # a record's cursor ends at a row boundary
            rows = csv_rows(f, path.name, start.line, start.offset)
        else:
            rows = csv_rows(f, path.name)
            next(rows, None)  # the header
        yield from csv_records(rows, names, start.records)


def csv_records(rows: Iterable[CsvRow], names: list[str], records: int) -> Iterator[Record]:
    """Data rows as records, numbered from `records` + 1 (rows, not lines: a row may span
    lines; its problem names them)."""
    for row in rows:
        records += 1
        fields, problem = None, row.problem
        if row.cells is not None and len(row.cells) != len(names):
            problem = malformed(row, len(names))
        elif row.cells is not None:
            fields = dict(zip(names, row.cells, strict=True))  # kept with a problem: its id
        cursor = Cursor(records, row.last.number, row.last.end)
        yield Record(records, "row", fields, problem, cursor)
