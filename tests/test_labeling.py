"""Batch labeling (`conflict-tagger label`): formats, pass-through fields, bad records,
parity with one-at-a-time tagging, resume after SIGKILL, and reruns."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

import serving.labeling as labeling
from serving.labeling import LabelingError, LabelJob, label_file, plan_workers
from serving.result import Result
from serving.tagger import RuntimeSettings, Tagger
from training.cli_label import label

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
# The real command in a fresh interpreter: a one-command Typer app, as the main CLI mounts it.
RUNNER = "import typer; from training.cli_label import label; app = typer.Typer(); "
RUNNER += "app.command()(label); app()"


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(label)
    return app


def _write_jsonl(path: Path, rows: Sequence[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").split("\n")  # not splitlines: U+2028 is text
    return [json.loads(line) for line in lines if line]


def _job(src: Path, out: Path, artifact: Path, **options: Any) -> LabelJob:
    return LabelJob(src, out, model=str(artifact), workers=0, progress=False, **options)


def _text(i: int) -> str:
    return f"Rebels fired {i} rockets at Camp Alpha near Kayes on {i % 28 + 1} May."


def test_workers_and_threads_never_exceed_the_cores() -> None:
    assert plan_workers(None, 2) == (2, 1)
    assert plan_workers(1, 2) == (1, 2)
    assert plan_workers(8, 2) == (2, 1)
    assert plan_workers(0, 2) == (0, 2)
    assert plan_workers(None, 1) == (1, 1)
    assert plan_workers(2, 8) == (2, 4)


def test_jsonl_keeps_every_field_and_a_rerun_does_nothing(
    tiny_artifact: Path, tmp_path: Path
) -> None:
    rows = [
        {"id": "a", "text": "Rebels fired a rocket at Camp Alpha.", "meta": {"k": [1, None]}},
        {"id": "b", "text": "Police arrested three men in Kayes.", "lang": "en", "tags": "old"},
        {"text": "Émeutes à Bamako : la police a tiré.", "id": "c", "n": 1.5},
    ]
    src, out = _write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl"
    args = [str(src), str(out), "--model", str(tiny_artifact), "--workers", "0", "--no-progress"]
    result = runner.invoke(_app(), args)
    assert result.exit_code == 0, result.output
    assert "3 records in, 3 out, 0 failed" in result.output

    written = _read_jsonl(out)
    for row, got in zip(rows, written, strict=True):
        tags = got.pop("tags")
        assert got == {k: v for k, v in row.items() if k != "tags"}  # an input `tags` is ours
        assert list(got) == [k for k in row if k != "tags"]
        Result.model_validate(tags)
    assert out.with_name("out.jsonl.errors.jsonl").read_text() == ""
    done = json.loads(out.with_name("out.jsonl.done.json").read_text())
    assert (done["records_in"], done["records_out"], done["failed"]) == (3, 3, 0)
    assert done["model"].startswith("conflict-tagger ")
    assert not out.with_name("out.jsonl.progress.json").exists()

    before = out.stat().st_mtime_ns
    again = runner.invoke(_app(), args)
    assert again.exit_code == 0, again.output
    assert "already complete" in again.output and "nothing to do" in again.output
    assert out.stat().st_mtime_ns == before


def test_csv_to_parquet(tiny_artifact: Path, tmp_path: Path) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.parquet"
    src.write_text(
        "id,text,score\n"
        '007,"Rebels fired a rocket, then fled.",1.5\n'
        '008,"Police said ""calm"" returned\nto Kayes.",\n'
        "009,,2\n"
        "010,too,many,cells\n"
        "011,Troops left the base.,3\n"
        "012,,4\n",
        encoding="utf-8",
    )
    summary = label_file(_job(src, out, tiny_artifact))
    assert (summary.records_in, summary.records_out, summary.failed) == (6, 3, 3)

    table = pq.read_table(out)
    assert table.schema.names == ["id", "text", "score", "tags"]
    assert all(t == pa.string() for t in table.schema.types)  # CSV cells stay strings
    got = table.to_pylist()
    assert [r["id"] for r in got] == ["007", "008", "011"]
    assert got[1]["text"] == 'Police said "calm" returned\nto Kayes.' and got[1]["score"] == ""
    assert Result.model_validate_json(got[0]["tags"]).model.name == "conflict-tagger"
    errors = _read_jsonl(summary.errors)
    assert {"row": 3, "id": "009", "reason": "the 'text' field is empty"} in errors
    assert {"row": 6, "id": "012", "reason": "the 'text' field is empty"} in errors
    malformed = next(e for e in errors if "malformed" in e["reason"])
    assert malformed["row"] == 4 and "4 cells, 3 columns" in malformed["reason"]
    assert malformed["id"] is None


def test_parquet_to_jsonl(tiny_artifact: Path, tmp_path: Path) -> None:
    src, out = tmp_path / "in.parquet", tmp_path / "out.jsonl"
    when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    rows = [{"id": i, "text": _text(i), "when": when, "ids": [i, i + 1]} for i in range(25)]
    pq.write_table(pa.Table.from_pylist(rows), src, row_group_size=10)
    summary = label_file(_job(src, out, tiny_artifact, drop_text=True, batch_docs=8))
    assert (summary.records_in, summary.records_out, summary.failed) == (25, 25, 0)

    written = _read_jsonl(out)
    assert [r["id"] for r in written] == list(range(25))
    Result.model_validate(written[3].pop("tags"))
    assert written[3] == {"id": 3, "when": when.isoformat(), "ids": [3, 4]}  # no text: dropped


def test_jsonl_to_parquet_rejects_only_the_records_that_do_not_fit(
    tiny_artifact: Path, tmp_path: Path
) -> None:
    rows = [
        {"id": 1, "text": _text(1), "n": 1},
        {"id": 2, "text": _text(2), "extra": "x"},  # a new column: fine
        {"id": 3, "text": _text(3), "n": "three"},  # int column, string value
        {"id": 4, "text": _text(4), "e": {}},  # Parquet has no empty struct
        {"id": 5, "text": _text(5), "n": 2.5},  # int64 widens to double
    ]
    src = tmp_path / "in.jsonl.gz"
    src.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    out = tmp_path / "out.parquet"
    summary = label_file(_job(src, out, tiny_artifact, part_rows=2, batch_docs=2))
    assert (summary.records_in, summary.records_out, summary.failed) == (5, 3, 2)

    got = pq.read_table(out).to_pylist()
    assert [(r["id"], r["n"], r["extra"]) for r in got] == [
        (1, 1.0, None),
        (2, None, "x"),
        (5, 2.5, None),
    ]
    errors = _read_jsonl(summary.errors)
    assert [(e["line"], e["id"]) for e in errors] == [(3, 3), (4, 4)]
    assert all("do not fit the Parquet output" in e["reason"] for e in errors)


def test_bad_records_are_reported_never_lost(
    tiny_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_tag = Tagger.tag

    def tag(self: Tagger, texts: Sequence[str]) -> list[Result]:
        if any("BOOM" in t for t in texts):
            raise RuntimeError("the model choked")
        return real_tag(self, texts)

    monkeypatch.setattr(Tagger, "tag", tag)
    lines = [
        json.dumps({"id": 1, "text": _text(1)}),
        "{not json",
        json.dumps([1, 2]),
        json.dumps({"id": 4, "body": "no text field"}),
        json.dumps({"id": 5, "text": 42}),
        json.dumps({"id": 6, "text": "   "}),
        json.dumps({"id": 7, "text": "x" * 501}),
        "",  # blank lines are not records
        json.dumps({"id": 9, "text": "BOOM went the shell."}),
        json.dumps({"id": 10, "text": _text(10)}),
    ]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = label_file(_job(src, out, tiny_artifact, max_chars=500))
    assert (summary.records_in, summary.records_out, summary.failed) == (9, 2, 7)
    assert [r["id"] for r in _read_jsonl(out)] == [1, 10]  # BOOM's batch mates survive

    errors = {e["line"]: e for e in _read_jsonl(summary.errors)}
    assert sorted(errors) == [2, 3, 4, 5, 6, 7, 9]
    assert errors[2]["reason"].startswith("invalid JSON") and errors[2]["id"] is None
    assert errors[3]["reason"] == "the line holds a JSON list, not an object"
    assert errors[4] == {"line": 4, "id": 4, "reason": "no 'text' field"}
    assert errors[5]["reason"] == "the 'text' field is not a string but int"
    assert errors[6]["reason"] == "the 'text' field is empty"
    assert "501 characters, over the limit of 500" in errors[7]["reason"]
    assert errors[9] == {
        "line": 9,
        "id": 9,
        "reason": "tagging failed: RuntimeError: the model choked",
    }


def test_batched_workers_match_one_at_a_time_tagging(tiny_artifact: Path, tmp_path: Path) -> None:
    # fp32: int8 graphs quantize activations with one scale per batch, so their scores
    # move a little with the batch's other documents.
    texts = [_text(i) * (1 + i % 4) for i in range(12)] + ["Kayes.", "Police left."]
    src = _write_jsonl(tmp_path / "in.jsonl", [{"id": i, "text": t} for i, t in enumerate(texts)])
    out = tmp_path / "out.jsonl"
    job = LabelJob(src, out, str(tiny_artifact), workers=1, batch_docs=5, precision="fp32",
                   progress=False)  # fmt: skip
    assert label_file(job).records_out == len(texts)

    _, threads = plan_workers(1, labeling.available_cores())
    tagger = Tagger.from_artifact(tiny_artifact, RuntimeSettings(precision="fp32", threads=threads))
    single = [tagger.tag([t])[0].model_dump(mode="json") for t in texts]
    assert [r["tags"] for r in _read_jsonl(out)] == single


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_resume_drops_what_was_written_after_the_last_commit(
    tiny_artifact: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    suffix: str,
) -> None:
    src, out = tmp_path / "in.csv", tmp_path / f"out{suffix}"
    rows = "".join(f"{i},{'' if i in (2, 30) else _text(i)}\n" for i in range(40))
    src.write_text("id,text\n" + rows, encoding="utf-8")
    # JSONL commits after every unit of 4 here, Parquet after every part of 8 rows.
    job = _job(src, out, tiny_artifact, batch_docs=4, part_rows=8, commit_seconds=0.0)
    real_write = labeling._Run._write_unit
    calls = 0

    def write_then_die(self: Any, *args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 6:
            raise KeyboardInterrupt
        real_write(self, *args)

    monkeypatch.setattr(labeling._Run, "_write_unit", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        label_file(job)
    monkeypatch.setattr(labeling._Run, "_write_unit", real_write)
    # What a kill between a write and its commit leaves behind:
    errors = out.with_name(out.name + ".errors.jsonl")
    with errors.open("ab") as f:
        f.write(b'{"row": 99, "id": "half')
    if suffix == ".jsonl":
        with out.open("ab") as f:
            f.write(b'{"id": "half a rec')
    else:
        (out.with_name(out.name + ".parts") / "part-000002.parquet").write_bytes(b"torn")

    summary = label_file(job)
    assert summary.resumed_at == 20  # 5 units of 4 records; Parquet: 2 parts
    assert (summary.records_in, summary.records_out, summary.failed) == (40, 38, 2)
    if suffix == ".jsonl":
        ids = [r["id"] for r in _read_jsonl(out)]
    else:
        ids = pq.read_table(out).column("id").to_pylist()
        assert not out.with_name(out.name + ".parts").exists()
    assert ids == [str(i) for i in range(40) if i not in (2, 30)]
    assert [(e["row"], e["id"]) for e in _read_jsonl(errors)] == [(3, "2"), (31, "30")]


def test_rerun_with_other_settings_or_input_is_refused(tiny_artifact: Path, tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "text": _text(1)}])
    out = tmp_path / "out.jsonl"
    base = [str(src), str(out), "--model", str(tiny_artifact), "--workers", "0", "--no-progress"]
    assert runner.invoke(_app(), base).exit_code == 0

    other = runner.invoke(_app(), [*base, "--text-field", "body"])
    assert other.exit_code == 1
    assert "completed by a run with other settings" in other.output
    assert "text_field was 'text', now 'body'" in other.output

    with src.open("a") as f:
        f.write(json.dumps({"id": 2, "text": _text(2)}) + "\n")
    changed = runner.invoke(_app(), base)
    assert changed.exit_code == 1 and "the input file changed" in changed.output

    fresh = tmp_path / "taken.jsonl"
    fresh.write_text("someone else's file\n")
    taken = runner.invoke(_app(), [str(src), str(fresh), "--model", str(tiny_artifact)])
    assert taken.exit_code == 1 and "not from an unfinished labeling run" in taken.output
    (tmp_path / "in.txt").write_text("text\n")
    with pytest.raises(LabelingError, match="cannot tell the format"):
        label_file(_job(tmp_path / "in.txt", out, tiny_artifact))


def _committed(out: Path) -> int:
    try:
        state = json.loads(out.with_name(out.name + ".progress.json").read_text())
    except (FileNotFoundError, ValueError):  # not there yet, or being replaced
        return 0
    return int(state["cursor"][0])


def _alive_in_session(session: int) -> list[int]:
    """Live (not zombie) processes of a session, from /proc (Linux)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if fields[0] != "Z" and int(fields[3]) == session:
            alive.append(int(stat.parent.name))
    return alive


def test_resume_after_sigkill_writes_every_record_once_in_order(
    tiny_artifact: Path, tmp_path: Path
) -> None:
    n = 300
    rows = [{"id": i, "text": _text(i) * 3} for i in range(n)]
    src, out = _write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "out.jsonl"
    args = [str(src), str(out), "--model", str(tiny_artifact), "--workers", "1",
            "--batch-docs", "4", "--checkpoint-seconds", "0"]  # fmt: skip
    command = [sys.executable, "-c", RUNNER, *args]
    first = subprocess.Popen(command, cwd=ROOT, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while _committed(out) < 20 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert first.poll() is None, "the run ended before it could be killed"
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        # The worker notices its parent is gone and exits rather than linger.
        deadline = time.monotonic() + 10
        while _alive_in_session(first.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive_in_session(first.pid)
    finally:
        if _alive_in_session(first.pid):
            os.killpg(first.pid, signal.SIGKILL)
    assert 0 < _committed(out) < n

    refused = runner.invoke(_app(), [*args[:-4], "--batch-docs", "8"])
    assert refused.exit_code == 1 and "unfinished run with other settings" in refused.output

    second = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    assert "resuming after" in second.stderr and f"/{n}" in second.stderr  # bar with a total
    assert f"{n} records in, {n} out, 0 failed" in second.stdout
    written = _read_jsonl(out)
    assert [r["id"] for r in written] == list(range(n))

    # Same batches as an uninterrupted run, so the same tags, byte for byte.
    again = tmp_path / "again.jsonl"
    label_file(_job(src, again, tiny_artifact, batch_docs=4))
    assert again.read_bytes() == out.read_bytes()


def test_units_end_at_a_character_budget_too(
    tiny_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": _text(i)}) + "\n" for i in range(9)))
    sizes: list[int] = []
    real_write = labeling._Run._write_unit

    def counting(self: Any, unit: Any, *args: Any) -> None:
        sizes.append(len(unit.records))
        real_write(self, unit, *args)

    monkeypatch.setattr(labeling._Run, "_write_unit", counting)
    # Each text has about 55 characters: a budget of 100 closes a unit at its second text.
    label_file(_job(src, tmp_path / "a.jsonl", tiny_artifact, batch_chars=100, precision="fp32"))
    assert sizes == [2, 2, 2, 2, 1]
    sizes.clear()
    label_file(_job(src, tmp_path / "b.jsonl", tiny_artifact, batch_docs=4, precision="fp32"))
    assert sizes == [4, 4, 1]
    tags = [[r["tags"] for r in _read_jsonl(tmp_path / f"{n}.jsonl")] for n in "ab"]
    assert tags[0] == tags[1]  # fp32 results do not depend on the batches
