"""Output sinks: JSONL appended in place, or Parquet written as part files and combined.

Both commit in steps (see checkpoint.py): a commit returns how much of the output is
durable, and a rerun reopens the sink at that point, dropping anything written after it.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from serving.labeling import arrow
from serving.labeling.files import AppendFile, fsync_path
from serving.labeling.job import Format, LabelingError
from serving.labeling.readers import PARQUET_SUFFIXES

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]


def output_format(path: Path, given: Format | None) -> Format:
    if given:
        return given
    name = path.name.lower()
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise LabelingError(f"cannot tell the output format from {path.name}: pass --format")


def output_schema(
    input_schema: pa.Schema | None, text_field: str, drop_text: bool
) -> pa.Schema | None:
    """The output columns when the input has a schema: its columns, then `tags`."""
    if input_schema is None:
        return None
    pa = arrow.pyarrow()
    drop = {"tags", text_field} if drop_text else {"tags"}
    kept = [f for f in input_schema if f.name not in drop]
    return pa.schema([*kept, pa.field("tags", pa.string())])


def _json_default(value: Any) -> Any:
    """Parquet values JSON has no type for."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | dt.timedelta):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)  # anything else: readable rather than fatal


def dumps(value: Any, ascii_only: bool = False) -> str:
    return json.dumps(value, ensure_ascii=ascii_only, separators=(",", ":"), default=_json_default)


def jsonl_line(fields: dict[str, Any], tags: str) -> bytes:
    """One output line: the fields, then `tags` spliced in as the JSON it already is."""
    for ascii_only in (False, True):
        head = dumps(fields, ascii_only)
        text = (head[:-1] + ',"tags":' if fields else '{"tags":') + tags + "}\n"
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates from the input: keep them escaped
            continue
    raise AssertionError("unreachable: ASCII-only JSON always encodes")


class Row(NamedTuple):
    number: int
    key: str
    id: Any
    fields: dict[str, Any]  # what passes through, without `tags`
    tags: str  # the Result as JSON


Rejected = list[tuple[Row, str]]  # rows a sink could not write, and why


class JsonlSink:
    def __init__(self, path: Path, committed: int) -> None:
        self.out = AppendFile(path, committed)

    def add(self, row: Row) -> None:
        self.out.write(jsonl_line(row.fields, row.tags))

    def due(self, pending_seconds: float, commit_seconds: float) -> bool:
        return pending_seconds >= commit_seconds

    def commit(self) -> tuple[int, Rejected]:
        return self.out.commit(), []

    def close(self) -> None:
        self.out.close()

    def finish(self, path: Path) -> None:
        pass  # OUT is the file written all along


class ParquetSink:
    """Part files `<OUT>.parts/part-NNNNNN.parquet`, combined into OUT at the end. Without
    an input schema (JSONL input) column types are inferred and unified part by part;
    records whose fields conflict with the columns so far are rejected, not the part."""

    def __init__(
        self, folder: Path, committed: int, schema: pa.Schema | None, part_rows: int
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.iterdir():  # written after the last commit
            if not _is_part(stale) or _part_index(stale) >= committed:
                stale.unlink()
        self.folder, self.parts, self.fixed, self.part_rows = folder, committed, schema, part_rows
        missing = [p for p in self._paths() if not p.is_file()]
        if missing:
            raise LabelingError(
                f"{missing[0]} is gone but the checkpoint counts it: delete the output's "
                ".parts folder and .progress.json to start over"
            )
        pq = arrow.parquet()
        self.schema = schema or arrow.unify([pq.read_schema(p) for p in self._paths()])
        self.rows: list[Row] = []

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def due(self, pending_seconds: float, commit_seconds: float) -> bool:
        if self.rows:
            return len(self.rows) >= self.part_rows
        return pending_seconds >= commit_seconds  # only failures so far: checkpoint them

    def commit(self) -> tuple[int, Rejected]:
        if not self.rows:
            return self.parts, []
        rejected: Rejected = []
        try:
            table, schema = self._table(self.rows, self.schema)
        except arrow.ARROW_ERRORS:
            table, schema, rejected = self._one_by_one(self.rows)
        self._write(table)
        self.schema, self.rows = schema, []
        return self.parts, rejected

    def _table(
        self, rows: list[Row], so_far: pa.Schema | None
    ) -> tuple[pa.Table, pa.Schema | None]:
        """The rows as a table that can be written, and the columns so far with them."""
        table = arrow.rows_table([{**r.fields, "tags": r.tags} for r in rows], self.fixed)
        schema = self.fixed
        if schema is None:
            schema = arrow.unify([so_far, table.schema] if so_far else [table.schema])
        # Some Arrow types (a struct with no fields: `{}` in JSON) cannot go to Parquet.
        arrow.parquet().write_table(table.slice(0, 1), arrow.pyarrow().BufferOutputStream())
        return table, schema

    def _one_by_one(self, rows: list[Row]) -> tuple[pa.Table, pa.Schema | None, Rejected]:
        kept: list[pa.Table] = []
        rejected: Rejected = []
        schema = self.schema
        for row in rows:
            try:
                one, schema = self._table([row], schema)
            except arrow.ARROW_ERRORS as err:
                why = f"its fields do not fit the Parquet output ({err}); write JSONL to keep it"
                rejected.append((row, why))
            else:
                kept.append(one)
        table = arrow.conform(kept, schema) if kept and schema else None
        return table, schema, rejected

    def _write(self, table: pa.Table | None) -> None:
        if table is None or table.num_rows == 0:
            return
        final = self.folder / f"part-{self.parts:06d}.parquet"
        tmp = final.with_name(final.name + ".tmp")
        arrow.parquet().write_table(table, tmp)
        fsync_path(tmp)
        os.replace(tmp, final)
        fsync_path(self.folder)
        self.parts += 1

    def _paths(self) -> list[Path]:
        return [self.folder / f"part-{i:06d}.parquet" for i in range(self.parts)]

    def close(self) -> None:
        pass  # parts are closed as they are written

    def finish(self, path: Path) -> None:
        """Combine the parts into OUT, one part in memory at a time."""
        pa, pq = arrow.pyarrow(), arrow.parquet()
        # With an input schema, self.schema is that schema all along.
        schema = self.schema or pa.schema([("tags", pa.string())])
        tmp = path.with_name(path.name + ".tmp")
        with pq.ParquetWriter(tmp, schema) as writer:
            for part in self._paths():
                writer.write_table(arrow.conform([pq.read_table(part)], schema))
        fsync_path(tmp)
        os.replace(tmp, path)
        fsync_path(path.parent)


def _is_part(path: Path) -> bool:
    return path.name.startswith("part-") and path.name.endswith(".parquet")


def _part_index(path: Path) -> int:
    return int(path.name[len("part-") : -len(".parquet")])
