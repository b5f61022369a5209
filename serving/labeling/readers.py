"""Input records from JSONL (plain or gzip), CSV and Parquet, from any position on.

Every field passes through as read; CSV cells stay strings (no type guessing, so "007"
stays "007"). A line or row that is not a record still yields a `Record`, with the
problem, so that it can be reported and counted.
"""

from __future__ import annotations

import gzip
import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from serving.labeling import arrow
from serving.labeling.job import LabelingError

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
INPUT_SUFFIXES = (*JSONL_SUFFIXES, ".csv", *PARQUET_SUFFIXES)
ARROW_BATCH_ROWS = 1024  # rows per pyarrow batch read from CSV / Parquet
CSV_BLOCK_BYTES = 1 << 20  # fixed, so CSV batches (and resume positions) are reproducible


class Cursor(NamedTuple):
    """How far the input is consumed: records, physical lines and bytes (JSONL)."""

    records: int = 0
    line: int = 0
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Record:
    number: int  # 1-based line (JSONL) or row (CSV, Parquet; header not counted)
    key: Literal["line", "row"]
    fields: dict[str, Any] | None  # None: not a record (invalid JSON, malformed row)
    problem: str | None
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
        return _csv_records(self.path, self.schema, start)

    def _parquet_schema(self) -> pa.Schema:
        try:
            return arrow.parquet().ParquetFile(self.path).schema_arrow.remove_metadata()
        except (OSError, ValueError) as err:
            raise LabelingError(f"{self.path} is not a readable Parquet file: {err}") from None

    def _csv_schema(self) -> pa.Schema:
        pa = arrow.pyarrow()
        try:
            options = _csv_read_options(), _csv_parse_options(lambda _: "skip")
            with arrow.csv().open_csv(self.path, *options) as reader:
                names = list(reader.schema.names)
        except (OSError, ValueError) as err:
            raise LabelingError(f"{self.path} is not a readable CSV file: {err}") from None
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise LabelingError(f"{self.path} repeats the column(s) {', '.join(repeated)}")
        return pa.schema([(n, pa.string()) for n in names])


def _count_lines(path: Path) -> int:
    lines, last = 0, b"\n"
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


def _jsonl_records(path: Path, start: Cursor) -> Iterator[Record]:
    gz = path.name.lower().endswith(".gz")
    with gzip.open(path, "rb") if gz else path.open("rb") as f:
        if gz:  # no cheap seek in a gzip stream: read past the consumed lines
            for _ in zip(range(start.line), f, strict=False):
                pass
        else:
            f.seek(start.offset)
        yield from jsonl_lines(f, start)


def jsonl_lines(lines: Iterable[bytes], start: Cursor) -> Iterator[Record]:
    """The records of JSONL `lines`, the lines that follow `start`'s line."""
    records, line, offset = start
    for raw in lines:
        line += 1
        offset += len(raw)
        if line == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # a UTF-8 byte order mark, which json.loads refuses
        if not raw.strip():
            continue  # blank lines are not records
        records += 1
        fields, problem = _parse_json(raw)
        yield Record(line, "line", fields, problem, Cursor(records, line, offset))


def _parse_json(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    try:
        value = json.loads(raw)
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
        return None, f"invalid JSON: {err}"
    if not isinstance(value, dict):
        return None, f"the line holds a JSON {type(value).__name__}, not an object"
    return value, None


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


def _csv_records(path: Path, schema: pa.Schema, start: Cursor) -> Iterator[Record]:
    pcsv = arrow.csv()
    malformed: list[Any] = []

    def keep(row: Any) -> str:  # a row with the wrong number of cells: report it, go on
        malformed.append(row)
        return "skip"

    convert = pcsv.ConvertOptions(
        column_types={n: t for n, t in zip(schema.names, schema.types, strict=True)},
        strings_can_be_null=False,
    )
    with pcsv.open_csv(path, _csv_read_options(), _csv_parse_options(keep), convert) as reader:
        rows = _csv_rows(reader, malformed)
        for records, (row, fields, problem) in enumerate(rows, start=1):
            if records > start.records:
                yield Record(row, "row", fields, problem, Cursor(records, 0, 0))


def _csv_rows(
    reader: Any, malformed: list[Any]
) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(data row number, fields, problem), malformed rows in their place among the good."""
    row = 0
    for batch in reader:
        # pyarrow numbers rows from the header's 1 (0: unknown); ours count data rows.
        bad = deque(sorted((max(0, (b.number or 0) - 1), b) for b in malformed))
        malformed.clear()
        for fields in batch.to_pylist():
            row += 1
            while bad and bad[0][0] <= row:
                number, info = bad.popleft()
                row += number == row  # it took this row number; the good row is the next
                yield number, None, _malformed(info)
            yield row, fields, None
        for number, info in bad:  # after the last good row of the block
            row = max(row, number)
            yield number, None, _malformed(info)


def _malformed(info: Any) -> str:
    return f"malformed CSV row: {info.actual_columns} cells, {info.expected_columns} columns"


def _csv_read_options() -> Any:
    return arrow.csv().ReadOptions(block_size=CSV_BLOCK_BYTES, use_threads=False)


def _csv_parse_options(on_malformed: Callable[[Any], str]) -> Any:
    return arrow.csv().ParseOptions(newlines_in_values=True, invalid_row_handler=on_malformed)
