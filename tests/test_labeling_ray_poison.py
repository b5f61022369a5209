"""The Ray engine on poisoned inputs (test_labeling_poison.py's) gives the local engine's
output and errors file, byte for byte: same records reported, same reasons."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_labeling import _read_jsonl, _text

if os.environ.get("CI"):
    import ray  # CI installs the [ray] extra: without it these tests must fail, not skip
else:
    ray = pytest.importorskip("ray", reason="needs Ray: pip install 'conflict-tagger[ray]'")

from tests.test_labeling_ray import _assert_same, _jobs

pytestmark = pytest.mark.filterwarnings(
    # Ray's DataContext() sets fields that it deprecates itself (use_polars, ...; Ray 2.60).
    "ignore::DeprecationWarning:ray.data.context",
)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_poisoned_inputs_give_the_local_engines_output(
    local_ray: None, tiny_artifact: Path, tmp_path: Path
) -> None:
    rows = [f"{i},{_text(i)}\n".encode() for i in range(12)]
    rows[2] = b"2,Rebels fired \xff rockets.\n"
    rows[9] = b'9,"Troops left.\n'  # never closed: rows 10 and 11 are read again
    src = tmp_path / "in.csv"
    src.write_bytes(b"id,text\n" + b"".join(rows))
    _assert_same(*_jobs(src, tmp_path, "csv.jsonl", tiny_artifact, batch_docs=3))
    errors = _read_jsonl(tmp_path / "ray-csv.jsonl.errors.jsonl")
    assert [(e["row"], e["id"]) for e in errors] == [(3, "2"), (10, None)]

    lines = [json.dumps({"id": i, "text": _text(i)}) for i in range(40)]
    lines[3] = '{"id": 3, "meta": ' + "[" * 100_000 + "]" * 100_000 + "}"
    lines[5] = '{"id": 5, "meta": ' + '{"a": ' * 600 + "1" + "}" * 600 + "}"  # pickle fails
    packed = gzip.compress(("\n".join(lines) + "\n").encode())
    src = tmp_path / "in.jsonl.gz"
    src.write_bytes(packed[: len(packed) * 3 // 4])
    _assert_same(*_jobs(src, tmp_path, "gz.parquet", tiny_artifact, batch_docs=3))
    errors = _read_jsonl(tmp_path / "ray-gz.parquet.errors.jsonl")
    assert [e["line"] for e in errors[:2]] == [4, 6] and len(errors) == 3
    assert "cut off or damaged" in errors[2]["reason"]
