"""Batch labeling guards its output: one labeler per output (a lock that a killed run
never leaves blocking), and no resume over an input edited where it was already read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import serving.labeling as labeling
from serving.labeling import LabelingError, LabelJob, label_file
from serving.labeling.checkpoint import fingerprint
from tests.test_labeling import ROOT, _job, _read_jsonl, _text

HOLD_LOCK = """
import sys, time
from pathlib import Path
from serving.labeling.lock import output_lock
with output_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_a_second_labeler_is_refused_and_a_killed_ones_lock_is_taken_over(
    tiny_artifact: Path, tmp_path: Path
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": _text(i)}) + "\n" for i in range(3)))
    out = tmp_path / "out.jsonl"
    command = [sys.executable, "-c", HOLD_LOCK, str(out)]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
            with pytest.raises(LabelingError) as refused:
                label_file(_job(src, out, tiny_artifact))
            assert str(refused.value) == (
                f"another labeler (pid {holder.pid}) is writing {out}: it holds {out}.lock. "
                "Wait for it to finish or stop it (an interrupted run resumes when rerun), or "
                "choose another output"
            )
            assert not out.exists()  # refused before touching anything
        finally:
            holder.kill()  # SIGKILL: its lock file stays, naming a dead pid
    lock = out.with_name("out.jsonl.lock")
    assert lock.read_text() == f"{holder.pid}\n"

    summary = label_file(_job(src, out, tiny_artifact))
    assert summary.records_out == 3 and not lock.exists()


def test_a_run_holds_the_lock_while_it_runs(
    tiny_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": _text(i)}) + "\n" for i in range(3)))
    out = tmp_path / "out.jsonl"
    real_write = labeling._Run._write_unit
    refusals: list[str] = []

    def write_and_race(self: Any, *args: Any) -> None:
        try:
            label_file(_job(src, out, tiny_artifact))
        except LabelingError as err:
            refusals.append(str(err))
        real_write(self, *args)

    monkeypatch.setattr(labeling._Run, "_write_unit", write_and_race)
    assert label_file(_job(src, out, tiny_artifact)).records_out == 3
    assert len(refusals) == 1 and f"another labeler (pid {os.getpid()})" in refusals[0]


def _edit_keeping_size_and_mtime(path: Path, offset: int, old: bytes, new: bytes) -> None:
    stat = path.stat()
    with path.open("r+b") as f:
        f.seek(offset)
        assert f.read(1) == old
        f.seek(offset)
        f.write(new)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def stop_after(job: LabelJob, units: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run `job` until `units` units are written and committed, then stop as by Ctrl-C."""
    real_write = labeling._Run._write_unit
    calls = 0

    def write_then_stop(self: Any, *args: Any) -> None:
        nonlocal calls
        real_write(self, *args)
        calls += 1
        if calls == units:
            raise KeyboardInterrupt

    monkeypatch.setattr(labeling._Run, "_write_unit", write_then_stop)
    with pytest.raises(KeyboardInterrupt):
        label_file(job)
    monkeypatch.setattr(labeling._Run, "_write_unit", real_write)


def test_a_one_byte_edit_in_the_middle_of_a_large_input_refuses_the_resume(
    tiny_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    pad = "x" * 50_000  # 110 records of 50 kB: 5.5 MB, quick to tag
    src.write_text(
        "".join(json.dumps({"id": i, "text": _text(i), "pad": pad}) + "\n" for i in range(110))
    )
    size = src.stat().st_size
    assert size > 5_000_000
    job = _job(src, out, tiny_artifact, batch_docs=10, commit_seconds=0.0)
    stop_after(job, 7, monkeypatch)  # 70 records committed: past the middle

    before = fingerprint(src)
    middle = src.read_bytes().index(b"xxxx", size // 2)  # in the pad of a committed record
    assert _committed_bytes(out) > middle
    _edit_keeping_size_and_mtime(src, middle, b"x", b"y")
    assert fingerprint(src) == before  # size, mtime, first and last MiB: all unchanged
    with pytest.raises(LabelingError) as refused:
        label_file(job)
    assert str(refused.value) == (
        f"{src} changed since the unfinished run in {out} read it (its first "
        f"{_committed_bytes(out)} bytes, which that run labeled, differ now): rerun with the "
        f"file as it was to resume, or delete {out}, out.jsonl.progress.json and "
        "out.jsonl.errors.jsonl to start over"
    )

    _edit_keeping_size_and_mtime(src, middle, b"y", b"x")  # as it was: resumes
    summary = label_file(job)
    assert summary.resumed_at == 70 and summary.records_out == 110
    assert [r["id"] for r in _read_jsonl(out)] == list(range(110))


def _committed_bytes(out: Path) -> int:
    state = json.loads(out.with_name(out.name + ".progress.json").read_text())
    return int(state["input_hash"][0])


def test_an_edit_in_a_parquet_row_group_already_labeled_refuses_the_resume(
    tiny_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, out = tmp_path / "in.parquet", tmp_path / "out.jsonl"
    rows = [{"id": i, "text": _text(i), "pad": f"{i}" * 50_000} for i in range(80)]
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, src, row_group_size=10, compression="none", use_dictionary=False)
    job = _job(src, out, tiny_artifact, batch_docs=10, commit_seconds=0.0)
    stop_after(job, 4, monkeypatch)  # four row groups committed
    data = src.read_bytes()
    at = data.index(b"Rebels fired 25 rockets")  # the third row group
    assert 1 << 20 < at < _committed_bytes(out) < len(data) - (1 << 20)
    before = fingerprint(src)
    _edit_keeping_size_and_mtime(src, at, b"R", b"r")
    assert fingerprint(src) == before
    with pytest.raises(LabelingError, match="changed since the unfinished run"):
        label_file(job)
