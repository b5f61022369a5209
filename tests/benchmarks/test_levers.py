"""The before/after lever measurements run, on the tiny artifact."""

from __future__ import annotations

import json
import re
from pathlib import Path

from benchmarks.levers import batcher_rate, chunk_rate, labeler_rate

TEXTS = ["rebels fired a rocket at camp alpha.", "police arrested three men."] * 8


def test_each_lever_reports_a_rate(tiny_artifact: Path, tmp_path: Path) -> None:
    rate = re.compile(r"^[\d,]+\.\d docs/s")
    merged = batcher_rate(tiny_artifact, TEXTS, linger=0.001, clients=4)
    assert rate.match(merged) and "documents per call" in merged
    assert rate.match(chunk_rate(tiny_artifact, TEXTS, 4))
    corpus = tmp_path / "short.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS), encoding="utf-8")
    assert rate.match(labeler_rate(tiny_artifact, corpus, batch_docs=4))
