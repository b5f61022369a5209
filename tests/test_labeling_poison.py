"""Batch labeling isolates poison: a record that breaks reading, parsing or tagging (even
by killing its worker process) goes to the errors file with the reason, the run goes on,
and a rerun that resumes before it goes past it too."""

from __future__ import annotations

import csv
import gzip
import json
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import serving.labeling.csv_input as csv_input
from serving.labeling import LabelJob, Summary, label_file
from serving.labeling import pool as pool_module
from serving.result import Result
from serving.tagger import RuntimeSettings, Tagger
from tests.test_labeling import _job, _read_jsonl, _text, _write_jsonl
from tests.test_labeling_guards import stop_after

REAL_INIT_WORKER = pool_module._init_worker  # (in a worker process: never patched)


class Panic(BaseException):
    """As pyo3's PanicException (a Rust panic in `tokenizers`): not an Exception."""


def _label_straight_and_resumed(
    job: LabelJob, stop_after_units: int, mp: pytest.MonkeyPatch
) -> Summary:
    """Label `job` straight through; then again into a second output, stopped (as by
    Ctrl-C) right after unit `stop_after_units` is written and committed, and resumed. Both
    must give the same output and errors file."""
    straight = label_file(job)
    again = replace(job, output=job.output.with_name("resumed-" + job.output.name))
    stop_after(again, stop_after_units, mp)
    resumed = label_file(again)
    assert resumed.resumed_at > 0 and not resumed.already_done
    assert (resumed.records_in, resumed.records_out, resumed.failed) == (
        straight.records_in,
        straight.records_out,
        straight.failed,
    )
    assert again.output.read_bytes() == job.output.read_bytes()
    assert resumed.errors.read_bytes() == straight.errors.read_bytes()
    return straight


def _ids(out: Path) -> list[Any]:
    return [r["id"] for r in _read_jsonl(out)]


def test_json_nested_100000_levels_deep_is_reported(
    tiny_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [json.dumps({"id": i, "text": _text(i)}) for i in range(12)]
    lines[3] = '{"id": 3, "text": "x", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}"
    # Parses, but deeper than the writers (and pickle, for Ray) can take.
    lines[7] = '{"id": 7, "text": "x", "meta": ' + '{"a": ' * 300 + "1" + "}" * 300 + "}"
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for units in (1, 3):  # a rerun resuming before the poison, and after it
        out = tmp_path / f"out-{units}.jsonl"
        job = _job(src, out, tiny_artifact, batch_docs=3, commit_seconds=0.0)
        summary = _label_straight_and_resumed(job, units, monkeypatch)
        assert (summary.records_in, summary.records_out, summary.failed) == (12, 10, 2)
        assert _ids(out) == [i for i in range(12) if i not in (3, 7)]
        errors = {e["line"]: e for e in _read_jsonl(summary.errors)}
        assert sorted(errors) == [4, 8] and errors[4]["id"] is None
        for e in errors.values():
            assert "nested more than 128 levels deep: flatten the record" in e["reason"]


def test_invalid_utf8_in_a_csv_row_costs_only_that_row(
    tiny_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [f"{i},{_text(i)}\n".encode() for i in range(10)]
    rows[4] = b"4,Rebels fired \xff\xfe rockets at Kayes.\n"  # Latin-1 pasted into UTF-8
    src, out = tmp_path / "in.csv", tmp_path / "out.jsonl"
    src.write_bytes(b"id,text\n" + b"".join(rows))
    job = _job(src, out, tiny_artifact, batch_docs=3, commit_seconds=0.0)
    summary = _label_straight_and_resumed(job, 1, monkeypatch)
    assert (summary.records_in, summary.records_out, summary.failed) == (10, 9, 1)
    assert _ids(out) == [str(i) for i in range(10) if i != 4]
    [error] = _read_jsonl(summary.errors)
    assert error["row"] == 5 and error["id"] == "4"  # the row's own id, though it is bad
    assert error["reason"] == (
        "invalid UTF-8 on line 6 of in.csv (byte 16 of the line): save the file as UTF-8, "
        "or fix or drop this row"
    )


@pytest.mark.parametrize("where", ["last column", "text column"])
def test_an_unterminated_csv_quote_is_reported_and_the_rows_after_it_read(
    tiny_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    rows = [f"{i},{_text(i)},{i}\n" for i in range(10)]
    # In the last column, pyarrow's reader used to make the rest of the file one good row.
    rows[3] = '3,Troops left.,"3\n' if where == "last column" else '3,"Troops left.,3\n'
    src, out = tmp_path / "in.csv", tmp_path / "out.jsonl"
    src.write_text('id,text,n\n5,"a text on\ntwo lines",5\n' + "".join(rows), encoding="utf-8")
    job = _job(src, out, tiny_artifact, batch_docs=3, commit_seconds=0.0)
    summary = _label_straight_and_resumed(job, 1, monkeypatch)
    assert (summary.records_in, summary.records_out, summary.failed) == (11, 10, 1)
    assert _ids(out) == ["5", *(str(i) for i in range(10) if i != 3)]
    [error] = _read_jsonl(summary.errors)
    assert error["row"] == 5 and error["id"] is None
    assert error["reason"].startswith(
        "a quote opened on line 7 of in.csv is never closed, so the row from line 7 has no "
        "end; it is skipped and the lines after line 7 are read again as rows. Close the quote"
    )


def test_a_quote_that_swallows_more_than_a_cell_can_hold_is_reported(
    tiny_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quote never closed in a large file fills one cell to the limit (16 Mi characters;
    1,000 here) long before the end of the file: the lines it took are read again."""
    limit = csv.field_size_limit(1000)
    monkeypatch.setattr(csv_input, "FIELD_LIMIT", 1000)
    try:
        rows = [f"{i},{_text(i)}\n" for i in range(40)]
        rows[2] = '2,"Troops left.\n'
        src, out = tmp_path / "in.csv", tmp_path / "out.jsonl"
        src.write_text("id,text\n" + "".join(rows), encoding="utf-8")
        summary = label_file(_job(src, out, tiny_artifact, batch_docs=8))
    finally:
        csv.field_size_limit(limit)
    assert (summary.records_in, summary.records_out, summary.failed) == (40, 39, 1)
    assert _ids(out) == [str(i) for i in range(40) if i != 2]
    [error] = _read_jsonl(summary.errors)
    assert error["row"] == 3
    assert error["reason"].startswith("the row from line 4 of in.csv has a cell over 1000 ")
    assert "most likely a quote that is never closed" in error["reason"]


def test_a_truncated_gzip_tail_is_reported_after_the_records_before_it(
    tiny_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = "".join(json.dumps({"id": i, "text": _text(i) * 3}) + "\n" for i in range(60))
    packed = gzip.compress(plain.encode())
    src, out = tmp_path / "in.jsonl.gz", tmp_path / "out.jsonl"
    src.write_bytes(packed[: len(packed) * 2 // 3])  # a download cut short
    readable = 0
    with pytest.raises(EOFError), gzip.open(src) as f:
        for _ in f:
            readable += 1
    assert 10 < readable < 60

    job = _job(src, out, tiny_artifact, batch_docs=4, commit_seconds=0.0)
    units = (readable + 1 + 3) // 4  # the cut is the last record
    summary = _label_straight_and_resumed(job, units, monkeypatch)  # resume after the cut
    assert (summary.records_in, summary.records_out, summary.failed) == (
        readable + 1,
        readable,
        1,
    )
    assert _ids(out) == list(range(readable))
    [error] = _read_jsonl(summary.errors)
    assert error["line"] == readable + 1 and error["id"] is None
    assert error["reason"].startswith("the gzip data of in.jsonl.gz is cut off or damaged here")
    assert error["reason"].endswith(
        "Get a complete copy of the file and label it into a new output"
    )
    resumed = replace(job, output=tmp_path / "resumed-before.jsonl")
    _label_straight_and_resumed(resumed, 2, monkeypatch)  # resumed before the cut


def _panicking_tag(real: Any) -> Any:
    def tag(self: Tagger, texts: Sequence[str]) -> list[Result]:
        if any("PANIC" in t for t in texts):
            raise Panic("called `Option::unwrap()` on a `None` value")
        if any("KILLER" in t for t in texts):
            os._exit(3)  # as a segfault or the OOM killer would end it
        return list(real(self, texts))

    return tag


def _init_poisoned_worker(artifact: Any, settings: RuntimeSettings) -> None:
    """The worker initializer, with a Tagger that panics or dies on poisoned texts."""
    REAL_INIT_WORKER(artifact, settings)
    Tagger.tag = _panicking_tag(Tagger.tag)  # type: ignore[method-assign]


def _poisoned_texts(tmp_path: Path, poison: str) -> Path:
    rows = [{"id": i, "text": _text(i)} for i in range(16)]
    rows[6]["text"] = f"{poison}: the tokenizer cannot take this one."
    return _write_jsonl(tmp_path / "in.jsonl", rows)


@pytest.mark.parametrize("workers", [0, 1, 2])  # in this process, in worker processes
def test_a_tagger_panic_that_is_no_exception_costs_only_its_record(
    tiny_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    if workers:  # worker processes: patched as they start
        monkeypatch.setattr(pool_module, "_init_worker", _init_poisoned_worker)
    else:
        monkeypatch.setattr(Tagger, "tag", _panicking_tag(Tagger.tag))
    src, out = _poisoned_texts(tmp_path, "PANIC"), tmp_path / "out.jsonl"
    job = replace(_job(src, out, tiny_artifact, batch_docs=4, commit_seconds=0.0), workers=workers)
    summary = _label_straight_and_resumed(job, 1, monkeypatch)
    assert (summary.records_in, summary.records_out, summary.failed) == (16, 15, 1)
    assert _ids(out) == [i for i in range(16) if i != 6]  # its batch mates too
    assert _read_jsonl(summary.errors) == [
        {
            "line": 7,
            "id": 6,
            "reason": "tagging failed: Panic: called `Option::unwrap()` on a `None` value",
        }
    ]


def test_a_text_that_kills_its_worker_process_costs_only_itself(
    tiny_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool_module, "_init_worker", _init_poisoned_worker)
    src, out = _poisoned_texts(tmp_path, "KILLER"), tmp_path / "out.jsonl"
    job = replace(_job(src, out, tiny_artifact, batch_docs=4, commit_seconds=0.0), workers=2)
    # Stopped before the killer's unit is written: the resumed run meets it again.
    summary = _label_straight_and_resumed(job, 1, monkeypatch)
    assert (summary.records_in, summary.records_out, summary.failed) == (16, 15, 1)
    assert _ids(out) == [i for i in range(16) if i != 6]
    [error] = _read_jsonl(summary.errors)
    assert error["line"] == 7 and error["id"] == 6
    assert error["reason"].startswith("the worker process died while tagging this text alone")
