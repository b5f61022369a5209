"""The HTTP benchmark's tools against a real `bentoml serve` of the tiny artifact: the load
generator's counts, bounds and error accounting, the server's memory, and that nothing of
the server outlives `served`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.http_load import bodies, read_texts
from benchmarks.serve import Served, free_port, run_load, served, start_time

SENTENCES = [
    "Rebels fired a rocket at Camp Alpha on 3 May.",
    "Police detained students in the capital.",
    "Farmers marched on the capital.",
    "Troops left the town after the shelling.",
]


@pytest.fixture(scope="module")
def texts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("load") / "texts.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in SENTENCES))
    return path


@pytest.fixture(scope="module")
def server(tiny_artifact: Path) -> Iterator[Served]:
    """One server for the module; on the way out, checks that stopping it left no process
    of its tree behind (a failure here shows as an error of the last test)."""
    with served(tiny_artifact, env={"CONFLICT_TAGGER_THREADS": "1"}) as running:
        assert len(running.pids()) >= 2, "expected BentoML's main process and a worker"
        yield running
    seen = running.seen
    assert seen
    left = [pid for pid, started in seen if start_time(pid) == started]
    assert not left, f"server processes still running after served() exited: {left}"


@pytest.mark.parametrize("concurrency", [1, 4])
def test_counts_and_latency(server: Served, texts: Path, concurrency: int) -> None:
    report = run_load(server.url, "/tag", texts, concurrency, 30, 20, 4, server=server)
    assert report["errors"] == 0, report["errors_by_kind"]
    assert report["requests"] == report["successes"] == 30
    assert report["stopped_by"] == "max_requests"
    latency = report["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert report["throughput"]["requests_per_s"] > 0
    assert report["throughput"]["documents_per_s"] > 0
    assert report["server_rss_bytes"]["max"] >= report["server_rss_bytes"]["last"] > 0
    assert report["server_peak_rss_bytes"] >= report["server_rss_bytes"]["max"]
    # Warm-up opened every user's connection and keep-alive kept it.
    assert report["client"]["connections_opened"] == 0
    assert report["client"]["cpu_seconds"] > 0


def test_adaptive_route(server: Served, texts: Path) -> None:
    report = run_load(server.url, "/tag_adaptive", texts, 4, 12, 20, 0)
    assert report["errors"] == 0, report["errors_by_kind"]
    assert report["requests"] == 12
    assert report["client"]["connections_opened"] == 4


def test_missing_route_counts_errors(server: Served, texts: Path) -> None:
    report = run_load(server.url, "/no_such_route", texts, 2, 10, 20, 0)
    assert report["requests"] == report["errors"] == 10
    assert report["errors_by_kind"] == {"http_404": 10}
    assert report["successes"] == 0
    assert report["latency_ms"]["p50"] is None


def test_stops_at_max_seconds(server: Served, texts: Path) -> None:
    report = run_load(server.url, "/tag", texts, 2, 1_000_000, 2, 0)
    assert report["stopped_by"] == "max_seconds"
    assert 0 < report["requests"] < 1_000_000
    assert 2 <= report["seconds"] < 10  # the deadline, plus the requests in flight at it
    assert report["errors"] == 0


def test_no_server_counts_connection_errors(texts: Path) -> None:
    report = run_load(f"http://127.0.0.1:{free_port()}", "/tag", texts, 2, 6, 10, 0)
    assert report["requests"] == report["errors"] == 6
    assert set(report["errors_by_kind"]) == {"ClientConnectorError"}


def test_generator_rejects_bad_texts(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"body": "no text"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        read_texts(bad)
    with pytest.raises(RuntimeError, match=r"bad\.jsonl:2"):
        run_load("http://127.0.0.1:1", "/tag", bad, 1, 1, 1, 0)


def test_bodies_follow_the_route() -> None:
    assert json.loads(bodies(["a"], "/tag")[0]) == {"text": "a"}
    assert json.loads(bodies(["a"], "/tag_adaptive")[0]) == {"texts": ["a"]}
