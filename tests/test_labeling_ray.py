"""The Ray engine (`conflict-tagger label --engine ray`) on a local 2-CPU Ray: the local
engine's output, errors file and summary, byte for byte; the artifact checked on the
actors; a resumed run; the command line's engine options."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import serving.labeling as labeling
import serving.labeling.ray_engine as ray_engine
from serving.artifact import ArtifactError
from serving.labeling import LabelingError, LabelJob, RayOptions, label_file, label_with_ray
from serving.labeling.pool import resolve_model
from serving.labeling.ray_engine import artifact_files, plan_actors, unpack_artifact
from serving.result import Result
from tests.test_labeling import _app, _read_jsonl, _text, _write_jsonl

if os.environ.get("CI"):
    import ray  # CI installs the [ray] extra: without it these tests must fail, not skip
else:
    ray = pytest.importorskip("ray", reason="needs Ray: pip install 'conflict-tagger[ray]'")

pytestmark = pytest.mark.filterwarnings(
    # Ray's DataContext() sets fields that it deprecates itself (use_polars, ...; Ray 2.60).
    "ignore::DeprecationWarning:ray.data.context",
)
runner = CliRunner()
REAL_ARTIFACT = Path(__file__).resolve().parents[1] / "runs" / "default" / "artifact"


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One 2-CPU Ray for the module; label_with_ray uses it as it is (and leaves it up)."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _jobs(
    src: Path, tmp: Path, name: str, artifact: Path, **options: Any
) -> tuple[LabelJob, LabelJob]:
    """The same job for each engine: the local one in this process (workers=0), and Ray."""
    local, on_ray = (
        LabelJob(src, tmp / f"{engine}-{name}", str(artifact), workers=workers, progress=False,
                 **options)
        for engine, workers in (("local", 0), ("ray", None))
    )  # fmt: skip
    return local, on_ray


def _assert_same(local: LabelJob, on_ray: LabelJob, options: RayOptions | None = None) -> None:
    """Label with both engines; OUT, errors file and counts must be equal."""
    a = label_file(local)
    b = label_with_ray(on_ray, options or RayOptions())
    assert (b.records_in, b.records_out, b.failed) == (a.records_in, a.records_out, a.failed)
    assert b.model == a.model
    assert on_ray.output.read_bytes() == local.output.read_bytes()  # JSONL and Parquet alike
    assert b.errors.read_bytes() == a.errors.read_bytes()


def _bad_jsonl(path: Path, n: int = 30) -> Path:
    lines = [json.dumps({"id": i, "text": _text(i) * (1 + i % 3), "n": i}) for i in range(n)]
    lines[2] = json.dumps({"id": 2, "text": ""})  # empty
    lines[5] = json.dumps({"id": 5, "body": "no text field"})  # missing
    lines[7] = json.dumps({"id": 7, "text": 42})  # not a string
    lines[9] = json.dumps({"id": 9, "text": "x" * 301})  # over max_chars
    lines[11] = "{not json"
    lines[12] = json.dumps([1, 2])
    lines[14] = ""  # a blank line: counted as a line, not a record
    lines[16] = json.dumps({"id": 16, "text": "Bamako\u2028riots", "e": {"k": [1, None]}})
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_actors_fit_the_cpus_ray_has() -> None:
    assert plan_actors(None, 1, [2.0]) == 2
    assert plan_actors(8, 1, [2.0]) == 2
    assert plan_actors(1, 1, [2.0]) == 1
    assert plan_actors(None, 2, [4.0, 3.0]) == 3  # an actor's CPUs are on one node
    with pytest.raises(LabelingError, match="no Ray node has 4 CPUs"):
        plan_actors(None, 4, [2.0, 3.0])


def test_jsonl_in_jsonl_and_parquet_out_equal_the_local_engine(
    local_ray: None, tiny_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _bad_jsonl(tmp_path / "in.jsonl")
    # Small units (4 records or 200 characters): int8 scores depend on a unit's other
    # texts, so equal output needs the same units.
    options = {"batch_docs": 4, "batch_chars": 200, "max_chars": 300}
    sizes: dict[str, list[int]] = {"local": [], "ray": []}
    real_write = labeling._Run._write_unit

    def counting(self: Any, unit: Any, *args: Any) -> None:
        engine = "ray" if isinstance(self, ray_engine._RayRun) else "local"
        sizes[engine].append(len(unit.records))
        real_write(self, unit, *args)

    monkeypatch.setattr(labeling._Run, "_write_unit", counting)
    _assert_same(*_jobs(src, tmp_path, "out.jsonl", tiny_artifact, **options))
    assert sizes["ray"] == sizes["local"] and len(sizes["ray"]) > 5
    monkeypatch.setattr(labeling._Run, "_write_unit", real_write)
    _assert_same(*_jobs(src, tmp_path, "out.parquet", tiny_artifact, **options))

    errors = {e["line"]: e for e in _read_jsonl(tmp_path / "ray-out.jsonl.errors.jsonl")}
    assert sorted(errors) == [3, 6, 8, 10, 12, 13]
    assert errors[6] == {"line": 6, "id": 5, "reason": "no 'text' field"}
    assert "301 characters, over the limit of 300" in errors[10]["reason"]
    done = json.loads((tmp_path / "ray-out.jsonl.done.json").read_text())
    assert (done["records_in"], done["records_out"], done["failed"]) == (29, 23, 6)


def test_csv_parquet_gzip_and_uri_inputs_equal_the_local_engine(
    local_ray: None, tiny_artifact: Path, tmp_path: Path
) -> None:
    csv = tmp_path / "in.csv"
    csv.write_text(
        "id,text,score\n"
        '007,"Rebels fired a rocket, then fled.",1.5\n'
        '008,"Police said ""calm"" returned\nto Kayes.",\n'
        "009,,2\n"
        "010,too,many,cells\n"
        "011,Troops left the base.,3\n",
        encoding="utf-8",
    )
    _assert_same(*_jobs(csv, tmp_path, "csv.parquet", tiny_artifact, batch_docs=2))
    # The same file as a URI: Ray reads it, the driver reads its header through pyarrow.
    local, on_ray = _jobs(csv, tmp_path, "uri.jsonl", tiny_artifact, batch_docs=2)
    _assert_same(local, on_ray, RayOptions(uri=csv.resolve().as_uri()))

    parquet = tmp_path / "in.parquet"
    when = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)
    rows = [{"id": i, "text": _text(i), "when": when, "ids": [i, i + 1]} for i in range(25)]
    rows[4]["text"] = None
    pq.write_table(pa.Table.from_pylist(rows), parquet, row_group_size=10)
    _assert_same(*_jobs(parquet, tmp_path, "pq.jsonl", tiny_artifact, batch_docs=8))

    gz = tmp_path / "in.jsonl.gz"
    gz.write_bytes(gzip.compress(_bad_jsonl(tmp_path / "plain.jsonl", 20).read_bytes()))
    _assert_same(*_jobs(gz, tmp_path, "gz.jsonl", tiny_artifact, batch_docs=3, max_chars=300))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    _assert_same(*_jobs(empty, tmp_path, "empty.parquet", tiny_artifact))
    assert _read_jsonl(tmp_path / "ray-pq.jsonl.errors.jsonl") == [
        {"row": 5, "id": 4, "reason": "the 'text' field is null"}
    ]


def test_an_interrupted_run_resumes_and_a_finished_one_is_not_redone(
    local_ray: None, tiny_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", [{"id": i, "text": _text(i)} for i in range(40)])
    local, on_ray = _jobs(src, tmp_path, "out.jsonl", tiny_artifact, batch_docs=4,
                          commit_seconds=0.0)  # fmt: skip
    real_write = labeling._Run._write_unit
    calls = 0

    def write_then_die(self: Any, *args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise KeyboardInterrupt
        real_write(self, *args)

    monkeypatch.setattr(labeling._Run, "_write_unit", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        label_with_ray(on_ray)
    monkeypatch.setattr(labeling._Run, "_write_unit", real_write)
    summary = label_with_ray(on_ray)
    assert summary.resumed_at == 12  # three units of 4, committed one by one
    assert on_ray.output.read_bytes() == label_file(local).output.read_bytes()

    again = label_with_ray(on_ray)
    assert again.already_done and again.records_out == 40
    assert label_file(LabelJob(src, on_ray.output, model=str(tiny_artifact), workers=0,
                               batch_docs=4, commit_seconds=0.0)).already_done  # fmt: skip
    taken = tmp_path / "taken.jsonl"
    taken.write_text("someone else's file\n")
    with pytest.raises(LabelingError, match="not from an unfinished labeling run"):
        label_with_ray(LabelJob(src, taken, model=str(tiny_artifact), progress=False))


def test_a_tampered_artifact_is_refused_before_sending_and_on_the_actors(
    local_ray: None, tiny_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "text": _text(1)}])
    bad = tmp_path / "artifact"
    shutil.copytree(tiny_artifact, bad)
    with (bad / "model.onnx").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ArtifactError, match=r"model\.onnx fails its checksum"):
        label_with_ray(LabelJob(src, tmp_path / "a.jsonl", model=str(bad), progress=False))

    files = artifact_files(resolve_model(str(tiny_artifact)))
    files["tokenizer.json"] += b" "
    (tmp_path / "unpacked").mkdir()
    with pytest.raises(ArtifactError, match=r"tokenizer\.json fails its checksum"):
        unpack_artifact(files, tmp_path / "unpacked")

    # Damaged on the way: the driver's copy is fine, what the actors get is not.
    monkeypatch.setattr(ray_engine, "artifact_files", lambda _: files)
    with pytest.raises(LabelingError, match=r"tokenizer\.json fails its checksum"):
        label_with_ray(LabelJob(src, tmp_path / "b.jsonl", model=str(tiny_artifact),
                                progress=False))  # fmt: skip


def test_without_ray_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    job = LabelJob(tmp_path / "in.jsonl", tmp_path / "out.jsonl")
    with pytest.raises(LabelingError, match=r"pip install 'conflict-tagger\[ray\]'"):
        label_with_ray(job)


def test_command_line_engine_options(local_ray: None, tiny_artifact: Path, tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "in.jsonl", [{"id": i, "text": _text(i)} for i in range(6)])
    base = [str(src), str(tmp_path / "out.jsonl"), "--model", str(tiny_artifact), "--no-progress"]
    mixed = runner.invoke(_app(), [*base, "--engine", "ray", "--workers", "2"])
    assert mixed.exit_code == 1 and "--workers is for --engine local" in mixed.output
    mixed = runner.invoke(_app(), [*base, "--actors", "2"])
    assert mixed.exit_code == 1 and "--engine ray" in mixed.output

    result = runner.invoke(
        _app(), [*base, "--engine", "ray", "--actors", "3", "--cpus-per-actor", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "tagging in 1 Ray actor(s) with 2 ONNX Runtime thread(s) each" in result.output
    assert "6 records in, 6 out, 0 failed" in result.output
    for row in _read_jsonl(tmp_path / "out.jsonl"):
        Result.model_validate(row["tags"])


@pytest.mark.slow
def test_ray_and_local_throughput_on_the_real_model(local_ray: None, tmp_path: Path) -> None:
    if not (REAL_ARTIFACT / "manifest.json").is_file():
        pytest.skip(f"no default artifact at {REAL_ARTIFACT} (make demo-train builds it)")
    texts = [_text(i) * (1 + i % 5) for i in range(1000)]
    src = _write_jsonl(tmp_path / "in.jsonl", [{"id": i, "text": t} for i, t in enumerate(texts)])
    rates = {}
    for engine in ("local", "ray"):
        job = LabelJob(src, tmp_path / f"{engine}.jsonl", model=str(REAL_ARTIFACT),
                       progress=False)  # fmt: skip
        start = time.perf_counter()
        summary = label_file(job) if engine == "local" else label_with_ray(job)
        rates[engine] = summary.records_out / (time.perf_counter() - start)
    print(f"\ndocs/s on {len(texts)} docs: local {rates['local']:.1f}, ray {rates['ray']:.1f}")
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
