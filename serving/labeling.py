"""Offline batch labeling: tag every record of a JSONL, CSV or Parquet file into JSONL or Parquet.

`label_file(LabelJob(...))` is the engine behind `conflict-tagger label IN OUT`.

Records. Every input field passes through unchanged (CSV cells as strings: no type
guessing, so "007" stays "007"); the output adds `tags`, the `Result` as JSON (a JSON
string column in Parquet). An input field named `tags` is replaced. A record that cannot
be tagged (no text, not a string, empty, longer than `max_chars`, an invalid JSON line, a
malformed CSV row, an exception while tagging it, or fields that do not fit the Parquet
schema) goes to the errors file with its line (JSONL) or row (CSV, Parquet; 1-based,
header not counted) number, its id and the reason. `records_out + failed ==
records_in` always holds.

Streaming. Input is read in chunks (lines; pyarrow batches for CSV and Parquet), consecutive
records form units of `batch_docs`, and at most a few units per worker are in flight, so
memory does not grow with the file. Units go to worker processes (spawn/forkserver, each
loading the model once with cores // workers ONNX Runtime threads); results are written in
input order.

Resume. `<OUT>.progress.json` records how far the input is consumed and how long OUT and
the errors file were at that point; it is replaced atomically after both files are
fsync'd ("a commit": JSONL at most every `commit_seconds`, Parquet once a part file of
`part_rows` rows is written to `<OUT>.parts/`). A rerun truncates OUT and the errors file
to the committed lengths, drops uncommitted part files and skips the committed records,
so a killed run (even SIGKILL) loses at most one commit interval of work and never
duplicates a record. Unit boundaries do not depend on where a run stopped, so a resumed
run batches, and therefore tags, exactly like an uninterrupted one. Parquet parts are
combined into OUT at the end. A finished run writes `<OUT>.done.json` (counts, seconds,
docs/s, model); rerunning it does nothing. A rerun whose settings or input differ from the
recorded ones (input: size and sha256 of its first and last MiB) is refused; only
`workers` may change, as it does not change the output.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import gzip
import hashlib
import json
import os
import shutil
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, NamedTuple

from serving.artifact import Artifact, verify
from serving.tagger import RuntimeSettings, Tagger

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

Format = Literal["jsonl", "parquet"]
Precision = Literal["int8", "fp32"]
Outcome = tuple[bool, str]  # (True, tags JSON) or (False, why tagging failed)

CHECKPOINT_VERSION = 1
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
INPUT_SUFFIXES = (*JSONL_SUFFIXES, ".csv", *PARQUET_SUFFIXES)
ARROW_BATCH_ROWS = 1024  # rows per pyarrow batch read from CSV / Parquet
CSV_BLOCK_BYTES = 1 << 20  # fixed, so CSV batches (and resume positions) are reproducible
FINGERPRINT_BYTES = 1 << 20
# What pyarrow raises on values that do not fit (ArrowException subclasses these too).
_ARROW_ERRORS = (ValueError, TypeError, OverflowError, NotImplementedError)


class LabelingError(ValueError):
    """A labeling job that cannot start or go on; the message says what to do."""


@dataclass(frozen=True)
class LabelJob:
    input: Path
    output: Path
    model: str = "production"
    text_field: str = "text"
    id_field: str | None = "id"
    workers: int | None = None  # None: default_workers(); 0: tag in this process
    batch_docs: int = 64  # records per unit sent to a worker
    errors: Path | None = None  # default <OUT>.errors.jsonl
    format: Format | None = None  # default: from OUT's extension
    max_chars: int = 200_000
    drop_text: bool = False  # leave the text field out of the output records
    precision: Precision | None = None  # default: CONFLICT_TAGGER_PRECISION, else int8
    progress: bool = True
    commit_seconds: float = 1.0  # JSONL: fsync + checkpoint at most this often
    part_rows: int = 5_000  # Parquet: rows per part file (held in memory), the unit of a commit


@dataclass(frozen=True)
class Summary:
    output: Path
    errors: Path
    records_in: int
    records_out: int
    failed: int
    seconds: float
    model: str
    already_done: bool = False
    resumed_at: int = 0  # input records committed before this run started

    @property
    def docs_per_second(self) -> float:
        return self.records_in / self.seconds if self.seconds > 0 else 0.0

    def text(self) -> str:
        failed = f", {self.failed} failed (see {self.errors})" if self.failed else ", 0 failed"
        return (
            f"{self.records_in} records in, {self.records_out} out{failed}; "
            f"{self.docs_per_second:.1f} docs/s over {self.seconds:.1f} s with {self.model}; "
            f"output: {self.output}"
        )


# --- workers and threads ---------------------------------------------------------------


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers(cores: int) -> int:
    """One single-threaded worker per core: documents are independent and small, so
    processes scale better than ONNX Runtime's intra-op threads (which also leave the
    Python half of the pipeline, tokenizing and decoding, on one core)."""
    return max(1, cores)


def plan_workers(requested: int | None, cores: int) -> tuple[int, int]:
    """(worker processes, ONNX Runtime threads each); workers x threads <= cores.
    0 workers: tag in this process with every core."""
    if requested == 0:
        return 0, cores
    workers = min(requested or default_workers(cores), cores)
    return workers, max(1, cores // workers)


# --- input -------------------------------------------------------------------------------


class Cursor(NamedTuple):
    """How far the input is consumed: records, physical lines and bytes (JSONL)."""

    records: int = 0
    line: int = 0
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Record:
    number: int  # 1-based line (JSONL) or row (CSV, Parquet)
    key: Literal["line", "row"]
    fields: dict[str, Any] | None  # None: not a record (invalid JSON, malformed row)
    problem: str | None
    cursor: Cursor  # the input consumed up to and including this record


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return next((s for s in sorted(INPUT_SUFFIXES, key=len, reverse=True) if name.endswith(s)), "")


def input_kind(path: Path) -> Literal["jsonl", "csv", "parquet"]:
    suffix = _suffix(path)
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix == ".csv":
        return "csv"
    raise LabelingError(
        f"cannot tell the format of {path} from its name: use one of {', '.join(INPUT_SUFFIXES)}"
    )


def fingerprint(path: Path) -> str:
    """Size and sha256 of the first and last MiB: cheap on huge files, and catches the
    usual ways an input changes (appended, rewritten, replaced)."""
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with path.open("rb") as f:
        h.update(f.read(FINGERPRINT_BYTES))
        if size > FINGERPRINT_BYTES:
            f.seek(max(FINGERPRINT_BYTES, size - FINGERPRINT_BYTES))
            h.update(f.read(FINGERPRINT_BYTES))
    return f"{size}:{h.hexdigest()}"


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
            pq = _pq()
            return int(pq.ParquetFile(self.path).metadata.num_rows)
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
            return _pq().ParquetFile(self.path).schema_arrow.remove_metadata()
        except (OSError, ValueError) as err:
            raise LabelingError(f"{self.path} is not a readable Parquet file: {err}") from None

    def _csv_schema(self) -> pa.Schema:
        pa, pcsv = _pa(), _pcsv()
        try:
            options = _csv_read_options(), _csv_parse_options(lambda _: "skip")
            with pcsv.open_csv(self.path, *options) as reader:
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
        records, line, offset = start
        if gz:  # no cheap seek in a gzip stream: read past the consumed lines
            for _ in zip(range(line), f, strict=False):
                pass
        else:
            f.seek(offset)
        for raw in f:
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
    pq = _pq()
    file = pq.ParquetFile(path)
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
    yield from _arrow_rows(batches, start.records - before, start.records)


def _csv_records(path: Path, schema: pa.Schema, start: Cursor) -> Iterator[Record]:
    pcsv = _pcsv()
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


def _arrow_rows(batches: Iterator[Any], skip: int, records: int) -> Iterator[Record]:
    for batch in batches:
        if skip >= batch.num_rows:
            skip -= batch.num_rows
            continue
        for fields in batch.slice(skip).to_pylist():
            records += 1
            yield Record(records, "row", fields, None, Cursor(records, 0, 0))
        skip = 0


def _csv_read_options() -> Any:
    return _pcsv().ReadOptions(block_size=CSV_BLOCK_BYTES, use_threads=False)


def _csv_parse_options(on_malformed: Callable[[Any], str]) -> Any:
    return _pcsv().ParseOptions(newlines_in_values=True, invalid_row_handler=on_malformed)


# --- output ------------------------------------------------------------------------------


def output_format(path: Path, given: Format | None) -> Format:
    if given:
        return given
    name = path.name.lower()
    if name.endswith(".jsonl") or name.endswith(".ndjson"):
        return "jsonl"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise LabelingError(f"cannot tell the output format from {path.name}: pass --format")


def _json_default(value: Any) -> Any:
    """Parquet values JSON has no type for."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | dt.timedelta):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)  # anything else: readable rather than fatal


def _dumps(value: Any, ascii_only: bool = False) -> str:
    return json.dumps(value, ensure_ascii=ascii_only, separators=(",", ":"), default=_json_default)


def jsonl_line(fields: dict[str, Any], tags: str) -> bytes:
    """One output line: the fields, then `tags` spliced in as the JSON it already is."""
    for ascii_only in (False, True):
        head = _dumps(fields, ascii_only)
        text = (head[:-1] + ',"tags":' if fields else '{"tags":') + tags + "}\n"
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates from the input: keep them escaped
            continue
    raise AssertionError("unreachable: ASCII-only JSON always encodes")


class _AppendFile:
    """A file appended to and committed (fsync'd) in steps; reopened at the last commit."""

    def __init__(self, path: Path, size: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        actual = path.stat().st_size
        if actual < size:
            raise LabelingError(
                f"{path} holds {actual} bytes but the checkpoint recorded {size}: it was "
                "changed outside this run; delete the output, its errors file and its "
                ".progress.json to start over"
            )
        os.truncate(path, size)  # drop what was written after the last commit
        self.path = path
        self.file: IO[bytes] = path.open("ab")

    def write(self, data: bytes) -> None:
        self.file.write(data)

    def commit(self) -> int:
        self.file.flush()
        os.fsync(self.file.fileno())
        return self.file.tell()

    def close(self) -> None:
        self.file.close()


class _Row(NamedTuple):
    number: int
    key: str
    id: Any
    fields: dict[str, Any]  # what passes through, without `tags`
    tags: str  # the Result as JSON


Rejected = list[tuple[_Row, str]]  # rows a sink could not write, and why


class _JsonlSink:
    def __init__(self, path: Path, committed: int) -> None:
        self.out = _AppendFile(path, committed)

    def add(self, row: _Row) -> None:
        self.out.write(jsonl_line(row.fields, row.tags))

    def due(self, pending_seconds: float, commit_seconds: float) -> bool:
        return pending_seconds >= commit_seconds

    def commit(self) -> tuple[int, Rejected]:
        return self.out.commit(), []

    def close(self) -> None:
        self.out.close()

    def finish(self, path: Path) -> None:
        pass  # OUT is the file written all along


class _ParquetSink:
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
        self.schema = schema or _unify([_pq().read_schema(p) for p in self._paths()])
        self.rows: list[_Row] = []

    def add(self, row: _Row) -> None:
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
            table, schema = self._table(self.rows)
        except _ARROW_ERRORS:
            table, schema, rejected = self._one_by_one(self.rows)
        self._write(table)
        self.schema, self.rows = schema, []
        return self.parts, rejected

    def _table(self, rows: list[_Row]) -> tuple[pa.Table, pa.Schema | None]:
        """The rows as a table that can be written, and the columns so far with them."""
        table = _rows_table([{**r.fields, "tags": r.tags} for r in rows], self.fixed)
        schema = self.fixed
        if schema is None:
            schema = _unify([self.schema, table.schema] if self.schema else [table.schema])
        # Some Arrow types (a struct with no fields: `{}` in JSON) cannot go to Parquet.
        _pq().write_table(table.slice(0, 1), _pa().BufferOutputStream())
        return table, schema

    def _one_by_one(self, rows: list[_Row]) -> tuple[pa.Table, pa.Schema | None, Rejected]:
        kept: list[pa.Table] = []
        rejected: Rejected = []
        schema = self.schema
        for row in rows:
            self.schema = schema
            try:
                one, schema = self._table([row])
            except _ARROW_ERRORS as err:
                why = f"its fields do not fit the Parquet output ({err}); write JSONL to keep it"
                rejected.append((row, why))
            else:
                kept.append(one)
        table = _conform(kept, schema) if kept and schema else None
        return table, schema, rejected

    def _write(self, table: pa.Table | None) -> None:
        if table is None or table.num_rows == 0:
            return
        final = self.folder / f"part-{self.parts:06d}.parquet"
        tmp = final.with_name(final.name + ".tmp")
        _pq().write_table(table, tmp)
        _fsync_path(tmp)
        os.replace(tmp, final)
        _fsync_path(self.folder)
        self.parts += 1

    def _paths(self) -> list[Path]:
        return [self.folder / f"part-{i:06d}.parquet" for i in range(self.parts)]

    def close(self) -> None:
        pass  # parts are closed as they are written

    def finish(self, path: Path) -> None:
        """Combine the parts into OUT, one part in memory at a time."""
        pa, pq = _pa(), _pq()
        schema = self.fixed or self.schema or pa.schema([("tags", pa.string())])
        tmp = path.with_name(path.name + ".tmp")
        with pq.ParquetWriter(tmp, schema) as writer:
            for part in self._paths():
                writer.write_table(_conform([pq.read_table(part)], schema))
        _fsync_path(tmp)
        os.replace(tmp, path)
        _fsync_path(path.parent)


def _conform(tables: list[pa.Table], schema: pa.Schema) -> pa.Table:
    """Tables with some of `schema`'s columns (possibly narrower types) as one table of it."""
    pa = _pa()
    merged = pa.concat_tables([schema.empty_table(), *tables], promote_options="permissive")
    return merged.select(schema.names).cast(schema)


def _rows_table(rows: list[dict[str, Any]], schema: pa.Schema | None) -> pa.Table:
    """Columns from the union of the rows' keys (pyarrow's from_pylist would keep only the
    first row's), typed by `schema` where it names them."""
    pa = _pa()
    names = list(schema.names) if schema else []
    seen = set(names)
    for row in rows:
        for name in row:
            if name not in seen:
                seen.add(name)
                names.append(name)
    types = dict(zip(schema.names, schema.types, strict=True)) if schema else {}
    arrays = [pa.array([r.get(n) for r in rows], type=types.get(n)) for n in names]
    return pa.Table.from_arrays(arrays, names=names)


def _unify(schemas: list[pa.Schema]) -> pa.Schema | None:
    return _pa().unify_schemas(schemas, promote_options="permissive") if schemas else None


def _is_part(path: Path) -> bool:
    return path.name.startswith("part-") and path.name.endswith(".parquet")


def _part_index(path: Path) -> int:
    return int(path.name[len("part-") : -len(".parquet")])


# --- the model, in workers or in this process ----------------------------------------------


def resolve_model(ref: str) -> Artifact:
    """The verified artifact (a folder, a registry tag or `production`); resolved once, so
    every worker loads the same version even if `production` moves meanwhile."""
    if Path(ref).is_dir():
        return verify(ref)
    from serving.registry import resolve

    return resolve(ref)


def tag_texts(tagger: Tagger, texts: list[str]) -> list[Outcome]:
    """Tag a batch; if the batch fails, each text alone, so one bad text loses only itself."""
    try:
        return [(True, r.model_dump_json()) for r in tagger.tag(texts)]
    except Exception:
        if len(texts) == 1:
            return [_tag_one(tagger, texts[0])]
    return [_tag_one(tagger, t) for t in texts]


def _tag_one(tagger: Tagger, text: str) -> Outcome:
    try:
        return True, tagger.tag([text])[0].model_dump_json()
    except Exception as err:  # any failure is this record's, reported, never fatal
        return False, f"tagging failed: {type(err).__name__}: {err}"


_WORKER: dict[str, Tagger] = {}


def _init_worker(artifact: Artifact, settings: RuntimeSettings) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    os.environ.setdefault("RAYON_NUM_THREADS", str(settings.threads or 1))  # tokenizers
    _watch_parent()
    _WORKER["tagger"] = Tagger(artifact, settings)


def _watch_parent() -> None:
    """Exit when the labeling process dies (even by SIGKILL) rather than linger holding a
    model. Its sentinel, not the parent pid: under forkserver the parent is the fork
    server, which itself waits for its children."""
    import multiprocessing

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _tag_in_worker(texts: list[str]) -> list[Outcome]:
    return tag_texts(_WORKER["tagger"], texts)


class _Runner:
    """Units to the model: a process pool, or this process (workers=0)."""

    def __init__(self, workers: int, artifact: Artifact, settings: RuntimeSettings) -> None:
        self.pool: ProcessPoolExecutor | None = None
        self.local: Tagger | None = None
        if workers:
            import multiprocessing

            method = (
                "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
            )
            self.pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context(method),
                initializer=_init_worker,
                initargs=(artifact, settings),
            )
        else:
            self.local = Tagger(artifact, settings)

    def submit(self, texts: list[str]) -> Future[list[Outcome]]:
        if self.pool is not None and texts:
            return self.pool.submit(_tag_in_worker, texts)
        done: Future[list[Outcome]] = Future()
        done.set_result(tag_texts(self.local, texts) if self.local and texts else [])
        return done

    def close(self, cancel: bool = False) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=cancel)


# --- the job -------------------------------------------------------------------------------


@dataclass
class _State:
    """The checkpoint: what is committed to OUT and the errors file."""

    identity: dict[str, Any]
    cursor: Cursor = field(default_factory=Cursor)
    out_state: int = 0  # JSONL: bytes of OUT; Parquet: part files
    errors_bytes: int = 0
    records_out: int = 0
    failed: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "version": CHECKPOINT_VERSION,
            "identity": self.identity,
            "cursor": list(self.cursor),
            "out_state": self.out_state,
            "errors_bytes": self.errors_bytes,
            "records_out": self.records_out,
            "failed": self.failed,
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _State:
        return cls(
            identity=data["identity"],
            cursor=Cursor(*data["cursor"]),
            out_state=int(data["out_state"]),
            errors_bytes=int(data["errors_bytes"]),
            records_out=int(data["records_out"]),
            failed=int(data["failed"]),
            seconds=float(data["seconds"]),
        )


@dataclass
class _Unit:
    records: list[tuple[Record, str | None]] = field(default_factory=list)  # (record, text)
    texts: list[str] = field(default_factory=list)


def _progress_path(out: Path) -> Path:
    return out.with_name(out.name + ".progress.json")


def done_path(out: Path) -> Path:
    return out.with_name(out.name + ".done.json")


def errors_path(job: LabelJob) -> Path:
    return job.errors or job.output.with_name(job.output.name + ".errors.jsonl")


def _parts_path(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def label_file(job: LabelJob, log: Callable[[str], None] = lambda _: None) -> Summary:
    """Tag every record of `job.input` into `job.output`, resuming an interrupted run."""
    if job.batch_docs < 1 or job.max_chars < 1 or job.part_rows < 1:
        raise LabelingError("batch_docs, max_chars and part_rows must be at least 1")
    fmt = output_format(job.output, job.format)
    errors = errors_path(job)
    if len({job.input.resolve(), job.output.resolve(), errors.resolve()}) < 3:
        raise LabelingError("the input, the output and the errors file must be different files")
    reader = Reader(job.input, job.text_field)
    artifact = resolve_model(job.model)
    workers, threads = plan_workers(job.workers, available_cores())
    if job.workers and workers < job.workers:
        log(f"note: {job.workers} workers asked for, {workers} used (one per core at most)")
    where = f"{workers} worker process(es)" if workers else "this process"
    log(f"tagging in {where} with {threads} ONNX Runtime thread(s) each")
    settings = RuntimeSettings().model_copy(update={"threads": threads})
    if job.precision:
        settings = settings.model_copy(update={"precision": job.precision})
    identity = _identity(job, fmt, errors, artifact, settings)
    model = f"{artifact.manifest['name']} {artifact.version} ({settings.precision})"

    finished = _finished_summary(job, errors, identity, model)
    if finished:
        return finished
    state = _start(job, fmt, errors, identity)
    if state.cursor.records:
        log(f"resuming after {state.cursor.records} records committed by an earlier run")
    return _Run(job, fmt, errors, reader, state, model).go(workers, artifact, settings)


def _identity(
    job: LabelJob, fmt: Format, errors: Path, artifact: Artifact, settings: RuntimeSettings
) -> dict[str, Any]:
    """What decides the output; a rerun must match it to resume or be a no-op."""
    return {
        "input": str(job.input.resolve()),
        "input_fingerprint": fingerprint(job.input),
        "format": fmt,
        "errors": str(errors.resolve()),
        "text_field": job.text_field,
        "id_field": job.id_field,
        "drop_text": job.drop_text,
        "max_chars": job.max_chars,
        "batch_docs": job.batch_docs,  # int8 activation scales depend on the batch
        "model": f"{artifact.manifest['name']} {artifact.version}",
        "precision": settings.precision,
        "batch_tokens": settings.batch_tokens,
    }


def _mismatch(old: dict[str, Any], new: dict[str, Any]) -> str:
    parts = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            if key == "input_fingerprint":
                parts.append("the input file changed")
            else:
                parts.append(f"{key} was {old.get(key)!r}, now {new.get(key)!r}")
    return "; ".join(parts)


def _finished_summary(
    job: LabelJob, errors: Path, identity: dict[str, Any], model: str
) -> Summary | None:
    done = _read_json(done_path(job.output))
    if done is None:
        return None
    if done.get("identity") != identity:
        raise LabelingError(
            f"{job.output} was completed by a run with other settings "
            f"({_mismatch(done.get('identity', {}), identity)}): "
            f"delete {job.output}, {done_path(job.output).name} and {errors.name} to label "
            "again, or choose another output"
        )
    _remove_leftovers(job.output)  # from a run killed between done.json and its cleanup
    return Summary(
        job.output,
        errors,
        int(done["records_in"]),
        int(done["records_out"]),
        int(done["failed"]),
        float(done["seconds"]),
        str(done["model"]),
        already_done=True,
    )


def _start(job: LabelJob, fmt: Format, errors: Path, identity: dict[str, Any]) -> _State:
    progress = _progress_path(job.output)
    saved = _read_json(progress)
    if saved is not None:
        if saved.get("version") != CHECKPOINT_VERSION or saved.get("identity") != identity:
            why = _mismatch(saved.get("identity", {}), identity)
            raise LabelingError(
                f"{job.output} holds an unfinished run with other settings ({why}): rerun "
                f"with the same input and options to resume it, or delete {job.output}, "
                f"{progress.name} and {errors.name} to start over"
            )
        return _State.from_json(saved)
    for path in (job.output, errors):
        if path.exists():
            raise LabelingError(
                f"{path} already exists and is not from an unfinished labeling run: "
                "delete it or choose another output"
            )
    if fmt == "parquet":
        shutil.rmtree(_parts_path(job.output), ignore_errors=True)
    job.output.parent.mkdir(parents=True, exist_ok=True)
    state = _State(identity)
    _write_json(progress, state.to_json())  # before any output, so a rerun can resume
    return state


class _Run:
    def __init__(
        self, job: LabelJob, fmt: Format, errors: Path, reader: Reader, state: _State, model: str
    ) -> None:
        self.job, self.fmt, self.reader, self.state, self.model = job, fmt, reader, state, model
        self.errors_path = errors
        self.sink: _JsonlSink | _ParquetSink
        if fmt == "jsonl":
            self.sink = _JsonlSink(job.output, state.out_state)
        else:
            parts = _parts_path(job.output)
            self.sink = _ParquetSink(parts, state.out_state, self._schema(), job.part_rows)
        try:
            self.errors = _AppendFile(errors, state.errors_bytes)
        except BaseException:
            self.sink.close()
            raise
        self.started = self.state.cursor.records
        self.cursor = state.cursor
        self.out, self.failed = state.records_out, state.failed
        self.clock = time.perf_counter()

    def _schema(self) -> pa.Schema | None:
        """The output columns when the input has a schema: its columns, then `tags`."""
        schema = self.reader.schema
        if schema is None:
            return None
        pa = _pa()
        drop = {"tags", self.job.text_field} if self.job.drop_text else {"tags"}
        kept = [f for f in schema if f.name not in drop]
        return pa.schema([*kept, pa.field("tags", pa.string())])

    def go(self, workers: int, artifact: Artifact, settings: RuntimeSettings) -> Summary:
        from tqdm import tqdm

        total = self.reader.total()
        bar = tqdm(
            total=total,
            initial=self.started,
            unit="doc",
            disable=not self.job.progress,
            dynamic_ncols=True,
        )
        runner: _Runner | None = None
        try:
            runner = _Runner(workers, artifact, settings)
            self._loop(runner, bar, max(2, 2 * workers + 1))
        except BrokenProcessPool:
            raise LabelingError(
                f"a worker process died (out of memory?); everything up to input record "
                f"{self.state.cursor.records} is saved: rerun the same command to resume"
            ) from None
        finally:
            if runner is not None:
                runner.close(cancel=True)
            bar.close()
            self.sink.close()
            self.errors.close()
        return self._finish()

    def _loop(self, runner: _Runner, bar: Any, depth: int) -> None:
        inflight: deque[tuple[_Unit, Future[list[Outcome]]]] = deque()
        for unit in self._units():
            inflight.append((unit, runner.submit(unit.texts)))
            while len(inflight) > depth:
                self._write_unit(*inflight.popleft(), bar)
        while inflight:
            self._write_unit(*inflight.popleft(), bar)
        self._commit()

    def _units(self) -> Iterator[_Unit]:
        unit = _Unit()
        for record in self.reader.records(self.state.cursor):
            text = None
            if record.fields is not None and record.problem is None:
                text, problem = check_text(record.fields, self.job.text_field, self.job.max_chars)
                record = replace(record, problem=problem)
            unit.records.append((record, text))
            if text is not None:
                unit.texts.append(text)
            # Fixed-size units from the start of the input: the same batches on resume.
            if record.cursor.records % self.job.batch_docs == 0:
                yield unit
                unit = _Unit()
        if unit.records:
            yield unit

    def _write_unit(self, unit: _Unit, future: Future[list[Outcome]], bar: Any) -> None:
        outcomes = iter(future.result())
        for record, text in unit.records:
            if text is None:
                self._error(record.number, record.key, self._id(record.fields), str(record.problem))
                continue
            ok, payload = next(outcomes)
            if not ok:
                self._error(record.number, record.key, self._id(record.fields), payload)
                continue
            fields = dict(record.fields or {})
            fields.pop("tags", None)  # replaced by ours
            if self.job.drop_text:
                fields.pop(self.job.text_field, None)
            self.sink.add(_Row(record.number, record.key, self._id(record.fields), fields, payload))
            self.out += 1
        self.cursor = unit.records[-1][0].cursor
        bar.update(len(unit.records))
        if self.sink.due(time.perf_counter() - self.clock, self.job.commit_seconds):
            self._commit()

    def _id(self, fields: dict[str, Any] | None) -> Any:
        if fields is None or self.job.id_field is None:
            return None
        return fields.get(self.job.id_field)

    def _error(self, number: int, key: str, record_id: Any, why: str) -> None:
        entry = {key: number, "id": record_id, "reason": why}
        self.errors.write(_dumps(entry, ascii_only=True).encode() + b"\n")
        self.failed += 1

    def _commit(self) -> None:
        out_state, rejected = self.sink.commit()
        for row, why in rejected:
            self._error(row.number, row.key, row.id, why)
            self.out -= 1
        now = time.perf_counter()
        self.state = replace(
            self.state,
            cursor=self.cursor,
            out_state=out_state,
            errors_bytes=self.errors.commit(),
            records_out=self.out,
            failed=self.failed,
            seconds=self.state.seconds + now - self.clock,
        )
        self.clock = now
        _write_json(_progress_path(self.job.output), self.state.to_json())

    def _finish(self) -> Summary:
        self.sink.finish(self.job.output)
        s = self.state
        summary = Summary(
            self.job.output,
            self.errors_path,
            s.cursor.records,
            s.records_out,
            s.failed,
            s.seconds,
            self.model,
            resumed_at=self.started,
        )
        done = {
            "input": str(self.job.input),
            "output": str(self.job.output),
            "errors": str(self.errors_path),
            "format": self.fmt,
            "records_in": summary.records_in,
            "records_out": summary.records_out,
            "failed": summary.failed,
            "seconds": round(summary.seconds, 3),
            "docs_per_second": round(summary.docs_per_second, 2),
            "model": self.model,
            "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "identity": s.identity,
        }
        _write_json(done_path(self.job.output), done)
        _remove_leftovers(self.job.output)
        return summary


def check_text(fields: dict[str, Any], name: str, max_chars: int) -> tuple[str | None, str | None]:
    """(text, None) for a taggable record, else (None, why not)."""
    if name not in fields:
        return None, f"no {name!r} field"
    value = fields[name]
    if value is None:
        return None, f"the {name!r} field is null"
    if not isinstance(value, str):
        return None, f"the {name!r} field is not a string but {type(value).__name__}"
    if not value.strip():
        return None, f"the {name!r} field is empty"
    if len(value) > max_chars:
        return None, f"the text has {len(value)} characters, over the limit of {max_chars}"
    return value, None


def _remove_leftovers(out: Path) -> None:
    _progress_path(out).unlink(missing_ok=True)
    shutil.rmtree(_parts_path(out), ignore_errors=True)


# --- small helpers -----------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise LabelingError(f"{path} is damaged ({err}); delete it to start over") from None
    if not isinstance(data, dict):
        raise LabelingError(f"{path} is damaged (not a JSON object); delete it to start over")
    return data


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically and durably: a crash leaves the old file or the new one, never half."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=1) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_path(path.parent)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pa() -> Any:
    import pyarrow  # type: ignore[import-untyped, unused-ignore]

    return pyarrow


def _pq() -> Any:
    import pyarrow.parquet  # type: ignore[import-untyped, unused-ignore]

    return pyarrow.parquet


def _pcsv() -> Any:
    import pyarrow.csv  # type: ignore[import-untyped, unused-ignore]

    return pyarrow.csv
