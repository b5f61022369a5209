"""The performance report: targets judged from one run's figures, every table rendered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.ceiling import EncoderShape, measure_ceiling
from benchmarks.corpora import Corpus
from benchmarks.offline import Row
from benchmarks.report import render, targets, window_overhead
from benchmarks.run import Results, Settings


def _corpus(tmp: Path, name: str, texts: list[str]) -> Corpus:
    path = tmp / f"{name}.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    return Corpus(name, path, len(texts), sum(map(len, texts)), 10 * len(texts), "ab" * 32)


def _row(system: str, corpus: str, docs_per_s: float, tokens_per_s: float) -> Row:
    return Row(system, corpus, 10, docs_per_s, docs_per_s, docs_per_s, tokens_per_s, 300.0,
               1.0, 0.2, 2, 3)  # fmt: skip


def _http(route: str, c: int, docs: float, p50: float, p99: float, errors: int = 0) -> Any:
    return {"route": route, "corpus": "short", "concurrency": c, "requests": 100,
            "errors": errors, "throughput": {"documents_per_s": docs},
            "latency_ms": {"p50": p50, "p95": p99, "p99": p99},
            "server_rss_bytes": {"max": 2**28}}  # fmt: skip


@pytest.fixture
def results(tiny_artifact: Path, tmp_path: Path) -> Results:
    shape = EncoderShape(hidden=32, intermediate=64, layers=2, heads=2)
    ceiling = measure_ceiling(shape, tokens=64, seq_len=16, threads=1, repeats=2, warmup=1)
    long_text = " ".join(["rebels fired a rocket at camp alpha on 3 may ."] * 6)
    corpora = {"short": _corpus(tmp_path, "short", ["rebels fired a rocket ."] * 3),
               "long": _corpus(tmp_path, "long", [long_text] * 2)}  # fmt: skip
    settings = Settings(artifact=tiny_artifact, model=tmp_path, command="python -m benchmarks.run")
    out = Results(settings, {"python": "3.11", "onnxruntime": "1.x"}, ceiling, corpora)
    out.offline = [
        _row("engine-fp32", "short", 100.0, 4000.0), _row("hf-pipeline", "short", 10.0, 400.0),
        _row("hf-bert-base", "short", 4.0, 160.0), _row("engine-fp32", "long", 5.0, 4000.0),
        _row("hf-pipeline", "long", 0.5, 400.0), _row("hf-bert-base", "long", 0.2, 160.0),
    ]  # fmt: skip
    out.http = [_http("/tag", 1, 60.0, 12.0, 20.0), _http("/tag", 32, 70.0, 100.0, 300.0),
                _http("/tag_adaptive", 32, 90.0, 50.0, 900.0)]  # fmt: skip
    return out


def test_window_overhead_counts_the_overlap(results: Results, tiny_artifact: Path) -> None:
    # Windows of 12 tokens every 8: a long text is read about 1.5x; a short one once.
    assert window_overhead(results.corpora["short"].path, tiny_artifact) == 1.0
    assert 1.2 < window_overhead(results.corpora["long"].path, tiny_artifact) < 1.6


def test_targets_are_judged_from_the_figures(results: Results) -> None:
    rows = {t: (v, ok) for t, v, ok in targets(results, overhead=1.3, served="fp32")}
    assert rows["served engine (fp32) >= 5x hf-pipeline, short, documents/s"] == (
        "10.0x",
        "**met**",
    )
    assert rows["served engine (fp32) >= 20x hf-bert-base, short, documents/s"] == (
        "25.0x", "**met**")  # fmt: skip
    assert rows["HTTP p50 <= 15 ms, one short sentence, concurrency 1"] == ("12.0 ms", "**met**")
    tag32 = rows["HTTP /tag, concurrency 32: >= 80% of offline docs/s, 0 errors, p99 < 10x p50"]
    assert tag32 == ("70% (70.0 of 100.0 docs/s), 0 errors, p99 3.0x p50", "**not met**")
    adaptive = rows[
        "HTTP /tag_adaptive, concurrency 32: >= 80% of offline docs/s, 0 errors, p99 < 10x p50"
    ]
    assert adaptive[1] == "**not met**"  # p99 is 18x p50
    # Same tokens/s on both corpora: long costs 1.0x short's per token, within the overlap.
    assert rows["long documents cost per token <= short's x window overlap"][1] == "**met**"


def test_the_report_holds_every_table(results: Results) -> None:
    accuracy = (
        "<!-- export:start -->\n## Exported artifact: parity\n\n"
        "| dev set | main figure | torch | fp32 ONNX | int8 ONNX | int8 - torch | within |\n"
        "|---|---|---|---|---|---|---|\n"
        "| satp | example-based F1 | 89.97 | 89.97 | 89.70 | -0.27 | yes |\n"
        "| cameo_ner | entity micro-F1 | 43.86 | 43.86 | 44.59 | +0.73 | **no** |\n"
        "<!-- export:end -->\n"
    )
    text = render(results, accuracy)
    for heading in ("## Targets", "## Ceiling", "## Corpora", "## Offline throughput", "## HTTP",
                    "## Accuracy alongside"):  # fmt: skip
        assert heading in text
    assert "1 of 2 dev sets within 0.5 (outside: cameo_ner +0.73) | **not met** |" in text
    assert "| hf-pipeline | short | 10 | 10.00 (10.00-10.00) | 400 |" in text
    assert (
        "| - | /tag_adaptive | short | 32 | 100 | 0 | 90.00 | 50.0 | 900.0 | 900.0 | 256 |" in text
    )


def test_each_server_layout_is_judged_on_its_own(results: Results) -> None:
    results.http = [
        {**_http("/tag", 32, 70.0, 100.0, 300.0), "server": "1 worker x 2 threads"},
        {**_http("/tag", 32, 85.0, 100.0, 300.0), "server": "2 workers x 1 thread"},
    ]
    rows = {t: ok for t, _, ok in targets(results, overhead=1.3, served="fp32")}
    head = "HTTP /tag ({}), concurrency 32: >= 80% of offline docs/s, 0 errors, p99 < 10x p50"
    assert rows[head.format("1 worker x 2 threads")] == "**not met**"
    assert rows[head.format("2 workers x 1 thread")] == "**met**"
