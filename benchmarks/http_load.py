"""A closed-loop HTTP load generator, run as its own process so its CPU is not the server's:

    python -m benchmarks.http_load --url http://127.0.0.1:3000 --route /tag \
        --texts texts.jsonl --concurrency 8 --max-requests 2000 --max-seconds 30

`--concurrency` virtual users, each on one keep-alive connection of its own, send their next
request as soon as the previous one has answered. Measured request i sends line i mod n of
the texts file (`{"text": ...}` lines) as `{"text": ...}` to `/tag` and as `{"texts": [...]}`
(one document) to any other route (`/tag_adaptive`, `/tag_batch`). The run stops at
`--max-requests` or `--max-seconds`, whichever comes first: no request starts after the
deadline, and one in flight is bounded by `--timeout`. `--warmup` requests go first (the
same users and connections, with a deadline of their own) and are not counted.

Prints one JSON object on stdout (see `summarize`). Latency is per request, from before the
request is sent to after its whole body is read; percentiles are over successful (2xx)
requests only. Errors are non-2xx answers (`http_404`), timeouts and connection failures,
counted by kind; none stops the run. The generator's own cost is in `client`: its CPU time
over the measured phase, per request, and as a share of one core, which on a small machine
is CPU the server did not get.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np


@dataclass
class Outcome:
    """One request: seconds from send to full body read; status (None: no answer); error
    kind (None: a 2xx answer)."""

    latency: float
    status: int | None
    error: str | None


@dataclass
class Plan:
    """Hands out request numbers until `total` are issued or `deadline` (perf_counter) has
    passed. One event loop, so no lock."""

    total: int
    deadline: float
    issued: int = 0
    stopped_by: str | None = None

    def take(self) -> int | None:
        if self.issued >= self.total:
            self.stopped_by = self.stopped_by or "max_requests"
            return None
        if time.perf_counter() >= self.deadline:
            self.stopped_by = self.stopped_by or "max_seconds"
            return None
        self.issued += 1
        return self.issued - 1


@dataclass
class Phase:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    stopped_by: str | None = None


def read_texts(path: Path, limit: int | None = None) -> list[str]:
    """The `text` of every line of a JSON Lines file (the first `limit`); fails naming the
    line that is wrong. Standard library only: the load generator's process stays light."""
    texts: list[str] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if limit is not None and len(texts) >= limit:
                break
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{number}: not JSON ({err})") from err
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise ValueError(f'{path}:{number}: expected {{"text": "..."}}, got {line[:80]!r}')
            texts.append(row["text"])
    if not texts:
        raise ValueError(f'{path}: no texts; write one {{"text": "..."}} object per line')
    return texts


def bodies(texts: Sequence[str], route: str) -> list[bytes]:
    """Request bodies, encoded once so the measured loop only sends bytes."""
    if route.rstrip("/") == "/tag":
        return [json.dumps({"text": t}).encode() for t in texts]
    return [json.dumps({"texts": [t]}).encode() for t in texts]


class Connections:
    """Counts the TCP connections the client opens: with keep-alive working that is one per
    virtual user; more means the server closed connections and requests paid to reopen."""

    def __init__(self) -> None:
        self.opened = 0
        self.trace = aiohttp.TraceConfig()
        self.trace.on_connection_create_end.append(self._opened)

    async def _opened(self, *_: object) -> None:
        self.opened += 1


async def send(session: aiohttp.ClientSession, url: str, body: bytes) -> Outcome:
    started = time.perf_counter()
    try:
        async with session.post(url, data=body) as response:
            await response.read()
            status = response.status
    except TimeoutError:  # aiohttp's timeouts are asyncio.TimeoutError, i.e. TimeoutError
        return Outcome(time.perf_counter() - started, None, "timeout")
    except Exception as err:  # connection refused or reset, bad answer: count, go on
        return Outcome(time.perf_counter() - started, None, type(err).__name__)
    latency = time.perf_counter() - started
    return Outcome(latency, status, None if 200 <= status < 300 else f"http_{status}")


async def user(
    session: aiohttp.ClientSession, url: str, payloads: list[bytes], plan: Plan, out: Phase
) -> None:
    while (i := plan.take()) is not None:
        out.outcomes.append(await send(session, url, payloads[i % len(payloads)]))


async def phase(
    sessions: list[aiohttp.ClientSession],
    url: str,
    payloads: list[bytes],
    total: int,
    max_seconds: float,
) -> Phase:
    out = Phase()
    cpu, started = time.process_time(), time.perf_counter()
    plan = Plan(total, started + max_seconds)
    await asyncio.gather(*(user(s, url, payloads, plan, out) for s in sessions))
    out.seconds = time.perf_counter() - started
    out.cpu_seconds = time.process_time() - cpu
    out.stopped_by = plan.stopped_by
    return out


async def run(
    url: str,
    route: str,
    texts: Sequence[str],
    concurrency: int,
    max_requests: int,
    max_seconds: float,
    warmup: int = 0,
    token: str | None = None,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """The load run; returns `summarize`'s object."""
    if concurrency < 1 or max_requests < 1 or max_seconds <= 0 or warmup < 0:
        raise ValueError(
            "concurrency and max_requests must be at least 1, max_seconds positive and "
            f"warmup not negative (got {concurrency}, {max_requests}, {max_seconds}, {warmup})"
        )
    target = url.rstrip("/") + "/" + route.lstrip("/")
    payloads = bodies(texts, route)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    connections = Connections()
    sessions = [
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1),  # one keep-alive connection per user
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
            trace_configs=[connections.trace],
        )
        for _ in range(concurrency)
    ]
    try:
        if warmup:
            await phase(sessions, target, payloads, warmup, max_seconds)
        opened_before = connections.opened
        measured = await phase(sessions, target, payloads, max_requests, max_seconds)
    finally:
        await asyncio.gather(*(s.close() for s in sessions))
    return summarize(
        measured,
        route=route,
        concurrency=concurrency,
        max_requests=max_requests,
        max_seconds=max_seconds,
        warmup=warmup,
        documents=len(texts),
        connections_opened=connections.opened - opened_before,
    )


def summarize(
    measured: Phase,
    *,
    route: str,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
    warmup: int,
    documents: int,
    connections_opened: int,
) -> dict[str, Any]:
    """The report: counts, throughput (every answered request counts as one document: each
    sends one), latency in ms over successful requests (None when there were none), errors
    by kind, and the client's own cost."""
    outcomes = measured.outcomes
    ok = np.array([o.latency for o in outcomes if o.error is None], dtype=np.float64) * 1000
    kinds = Counter(o.error for o in outcomes if o.error is not None)
    seconds = measured.seconds
    latency: dict[str, float | None]
    if ok.size:
        p50, p95, p99 = np.percentile(ok, [50, 95, 99])
        latency = {"p50": float(p50), "p95": float(p95), "p99": float(p99),
                   "max": float(ok.max()), "mean": float(ok.mean())}  # fmt: skip
    else:
        latency = dict.fromkeys(("p50", "p95", "p99", "max", "mean"))
    return {
        "route": route,
        "concurrency": concurrency,
        "requests": len(outcomes),
        "successes": int(ok.size),
        "errors": sum(kinds.values()),
        "errors_by_kind": dict(sorted(kinds.items())),
        "seconds": seconds,
        "stopped_by": measured.stopped_by,
        "throughput": {
            "requests_per_s": len(outcomes) / seconds if seconds else 0.0,
            "documents_per_s": int(ok.size) / seconds if seconds else 0.0,
        },
        "latency_ms": latency,
        "limits": {"max_requests": max_requests, "max_seconds": max_seconds, "warmup": warmup},
        "texts": documents,
        "client": {
            "library": f"aiohttp {aiohttp.__version__}",
            "cpu_seconds": measured.cpu_seconds,
            "cpu_ms_per_request": 1000 * measured.cpu_seconds / len(outcomes) if outcomes else None,
            "cpu_share_of_one_core": measured.cpu_seconds / seconds if seconds else None,
            "connections_opened": connections_opened,
            "note": "the generator's own CPU over the measured phase: on a machine it shares "
            "with the server, that share of a core was not the server's; connections_opened "
            "above the concurrency (less any opened in warm-up) means keep-alive was broken",
        },
    }


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.http_load",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:3000")
    parser.add_argument("--route", default="/tag")
    parser.add_argument("--texts", type=Path, required=True, help='JSON Lines of {"text": ...}')
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--max-requests", type=int, required=True)
    parser.add_argument("--max-seconds", type=float, required=True)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--token", default=None, help="sent as Authorization: Bearer TOKEN")
    parser.add_argument("--timeout", type=float, default=60.0, help="per request, seconds")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    try:
        texts = read_texts(args.texts)
        report = asyncio.run(
            run(args.url, args.route, texts, args.concurrency, args.max_requests,
                args.max_seconds, args.warmup, args.token, args.timeout)
        )  # fmt: skip
    except (OSError, ValueError) as err:
        print(f"http_load: {err}", file=sys.stderr)
        return 2
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
