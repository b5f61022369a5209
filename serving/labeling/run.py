"""The run loop: read records, send fixed-size units to the model, write results in order.

At most a few units per worker are in flight, so memory does not grow with the file.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack, closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from serving.artifact import Artifact
from serving.labeling import checkpoint
from serving.labeling.files import AppendFile
from serving.labeling.input_hash import PrefixHash
from serving.labeling.job import Format, LabelingError, LabelJob, Summary
from serving.labeling.lock import output_lock
from serving.labeling.pool import (
    Outcome,
    Runner,
    WorkersDie,
    available_cores,
    plan_workers,
    resolve_model,
)
from serving.labeling.readers import Reader, Record
from serving.labeling.writers import (
    JsonlSink,
    ParquetSink,
    Row,
    dumps,
    output_format,
    output_schema,
)
from serving.tagger import RuntimeSettings


def label_file(job: LabelJob, log: Callable[[str], None] = lambda _: None) -> Summary:
    """Tag every record of `job.input` into `job.output`, resuming an interrupted run."""
    with output_lock(job.output):
        return _label_file(job, log)


def _label_file(job: LabelJob, log: Callable[[str], None]) -> Summary:
    workers, threads = plan_workers(job.workers, available_cores())
    plan = plan_job(job, threads, lambda: Reader(job.input, job.text_field))
    if job.workers and workers < job.workers:
        log(f"note: {job.workers} workers asked for, {workers} used (one per core at most)")
    where = f"{workers} worker process(es)" if workers else "this process"
    log(f"tagging in {where} with {threads} ONNX Runtime thread(s) each")
    identity = checkpoint.identity(job, plan.fmt, plan.errors, plan.artifact, plan.settings)
    state = resume(job, plan, identity, log)
    if isinstance(state, Summary):
        return state
    run = _Run(job, plan.fmt, plan.errors, plan.reader, state, plan.model)
    return run.go(workers, plan.artifact, plan.settings)


@dataclass(frozen=True)
class Plan:
    """What a run of a job is made of, settled before it starts (by either engine)."""

    fmt: Format
    errors: Path
    reader: Reader
    artifact: Artifact
    settings: RuntimeSettings
    model: str  # name, version and graph, for the summary


def plan_job(
    job: LabelJob, threads: int, open_reader: Callable[[], Reader], local_input: bool = True
) -> Plan:
    """Check the job, open its input and load its model, running `threads` ONNX Runtime
    threads per model; `local_input` False: the input is a URI, not a file here."""
    if min(job.batch_docs, job.batch_chars, job.max_chars, job.part_rows) < 1:
        raise LabelingError("batch_docs, batch_chars, max_chars and part_rows must be at least 1")
    fmt = output_format(job.output, job.format)
    errors = checkpoint.errors_path(job)
    files = {job.output.resolve(), errors.resolve()}
    if local_input:
        files.add(job.input.resolve())
    if len(files) < 2 + local_input:
        raise LabelingError("the input, the output and the errors file must be different files")
    reader = open_reader()
    artifact = resolve_model(job.model)
    settings = RuntimeSettings().model_copy(update={"threads": threads})
    # "auto" resolves here, so the checkpoint records the graph that really runs.
    precision = artifact.precision(job.precision or settings.precision)
    settings = settings.model_copy(update={"precision": precision})
    model = f"{artifact.manifest['name']} {artifact.version} ({settings.precision})"
    return Plan(fmt, errors, reader, artifact, settings, model)


def resume(
    job: LabelJob, plan: Plan, identity: dict[str, Any], log: Callable[[str], None]
) -> checkpoint.State | Summary:
    """Where the run starts: its committed state, or the summary of a finished run."""
    done = checkpoint.finished(job, plan.errors, identity, plan.model)
    if done:
        return done
    state = checkpoint.start(job, plan.fmt, plan.errors, identity)
    if state.cursor.records:
        log(f"resuming after {state.cursor.records} records committed by an earlier run")
    return state


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


@dataclass
class _Unit:
    records: list[tuple[Record, str | None]] = field(default_factory=list)  # (record, text)
    texts: list[str] = field(default_factory=list)


def units(records: Iterable[Record], job: LabelJob) -> Iterator[_Unit]:
    """Records checked and cut into the units sent to the model (by either engine: int8
    scores depend on a unit's other texts, so equal units make equal output)."""
    unit, chars = _Unit(), 0
    for record in records:
        text = None
        if record.fields is not None and record.problem is None:
            text, problem = check_text(record.fields, job.text_field, job.max_chars)
            record = replace(record, problem=problem)
        unit.records.append((record, text))
        if text is not None:
            unit.texts.append(text)
            chars += len(text)
        # A unit's end depends only on its own records, and a run commits (and resumes)
        # at unit ends: a resumed run makes the same batches as an uninterrupted one.
        if len(unit.records) >= job.batch_docs or chars >= job.batch_chars:
            yield unit
            unit, chars = _Unit(), 0
    if unit.records:
        yield unit


class _Run:
    """One run of a job, from its committed state to the end of the input."""

    def __init__(
        self,
        job: LabelJob,
        fmt: Format,
        errors: Path,
        reader: Reader,
        state: checkpoint.State,
        model: str,
    ) -> None:
        self.job, self.fmt, self.reader, self.state, self.model = job, fmt, reader, state, model
        self.errors_path = errors
        self.input_hash: PrefixHash | None = None
        self.sink: JsonlSink | ParquetSink
        with ExitStack() as files:  # closed here if opening one fails, else when the run ends
            if reader.local:  # (a URI input has only its size and mtime checked)
                prefix = PrefixHash(reader.path, reader.kind)
                self.input_hash = files.enter_context(closing(prefix))
                checkpoint.check_input(job, errors, state, self.input_hash)
            if fmt == "jsonl":
                self.sink = JsonlSink(job.output, state.out_state)
            else:
                schema = output_schema(reader.schema, job.text_field, job.drop_text)
                parts = checkpoint.parts_path(job.output)
                self.sink = ParquetSink(parts, state.out_state, schema, job.part_rows)
            files.callback(self.sink.close)
            self.errors = AppendFile(errors, state.errors_bytes)
            files.callback(self.errors.close)
            self.files = files.pop_all()
        self.started = state.cursor.records
        self.cursor = state.cursor
        self.out, self.failed = state.records_out, state.failed
        self.clock = time.perf_counter()

    def go(self, workers: int, artifact: Artifact, settings: RuntimeSettings) -> Summary:
        bar = self._progress_bar()
        runner: Runner | None = None
        try:
            runner = Runner(workers, artifact, settings)
            self._loop(runner, bar, max(2, 2 * workers + 1))
        except (BrokenProcessPool, WorkersDie) as err:
            why = err if isinstance(err, WorkersDie) else "a worker process died (out of memory?)"
            raise LabelingError(
                f"{why}; everything up to input record "
                f"{self.state.cursor.records} is saved: rerun the same command to resume"
            ) from None
        finally:
            if runner is not None:
                runner.close()
            bar.close()
            self.files.close()
        return self._finish()

    def _progress_bar(self) -> Any:
        from tqdm import tqdm

        return tqdm(
            total=self.reader.total(),
            initial=self.started,
            unit="doc",
            disable=not self.job.progress,
            dynamic_ncols=True,
        )

    def _loop(self, runner: Runner, bar: Any, depth: int) -> None:
        inflight: deque[tuple[_Unit, Future[list[Outcome]]]] = deque()

        def write_oldest() -> None:
            unit, future = inflight.popleft()
            self._write_unit(unit, runner.settled(future, unit.texts), bar)

        for unit in self._units():
            inflight.append((unit, runner.submit(unit.texts)))
            while len(inflight) > depth:
                write_oldest()
        while inflight:
            write_oldest()
        self._commit()

    def _units(self) -> Iterator[_Unit]:
        return units(self.reader.records(self.state.cursor), self.job)

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
            self.sink.add(Row(record.number, record.key, self._id(record.fields), fields, payload))
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
        self.errors.write(dumps(entry, ascii_only=True).encode() + b"\n")
        self.failed += 1

    def _commit(self) -> None:
        out_state, rejected = self.sink.commit()
        for row, why in rejected:
            self._error(row.number, row.key, row.id, why)
            self.out -= 1
        now = time.perf_counter()
        hashed = None
        if self.input_hash is not None:
            hashed = self.input_hash.advance(self.input_hash.extent(self.cursor))
        self.state = replace(
            self.state,
            input_hash=hashed,
            cursor=self.cursor,
            out_state=out_state,
            errors_bytes=self.errors.commit(),
            records_out=self.out,
            failed=self.failed,
            seconds=self.state.seconds + now - self.clock,
        )
        self.clock = now
        checkpoint.save(self.job.output, self.state)

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
        checkpoint.finish(self.job, self.fmt, summary, s.identity)
        return summary
