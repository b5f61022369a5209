"""Reliability: a real `bentoml serve` fed bad input and overloaded, and the batch labeler
killed with SIGKILL and fed poison, in one report.

    python -m benchmarks.reliability [--model shipped] [--quick] [--out benchmarks/reliability.md]

1. The bad-input battery (benchmarks/reliability_cases.py), one request at a time: every
   status counted, no 5xx; every 200 checked (offsets inside the text and equal to the span's
   text; junk-only texts with no entities, roles or events); and the cost per character of
   each accepted request against news prose of the same length(s), same route.
2. Liveness: `GET /livez` every 0.25 s from a thread of its own, through battery and load.
3. Load: clients sending 200,000-character prose to `/tag` as fast as they are answered
   (after a 503, as soon as its Retry-After allows), the server's process-tree RSS every
   second, and how soon short requests are as fast as before the load once it is over.
4. and 5. `conflict-tagger label` killed and fed poison (benchmarks/reliability_labeler.py).

The server is started as `make demo`'s is: the service's defaults, the model named by the
same references `CONFLICT_TAGGER_MODEL` takes (`shipped`, a folder, a tag, `production`).
Latency is timed in this process, from before a request is sent to its whole answer read.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped, unused-ignore]  # with BentoML

from benchmarks import reliability_labeler as labeler
from benchmarks.reliability_cases import (
    JSON,
    SENTENCE,
    Case,
    answer_problems,
    battery,
    body,
    texts_of,
)
from benchmarks.reliability_cases import prose as prose_text
from benchmarks.reliability_report import LIVEZ_EVERY, render
from benchmarks.serve import Served, launch
from serving.artifact import SHIPPED, Artifact, is_folder_ref, resolve

TIMEOUT = 330.0  # the service's traffic timeout is 300 s: past that, an answer is not coming
LOAD_CHARS = 200_000


@dataclass(frozen=True)
class Settings:
    model: str
    quick: bool
    load_clients: int
    load_seconds: float
    repeats: int  # sends of a short accepted request (and its prose), the fastest counted
    kills: int
    records: int  # per labeler input file
    seed: int = 0

    @classmethod
    def make(cls, model: str, quick: bool) -> Settings:
        if quick:
            return cls(model, True, 8, 30.0, 3, 10, 600)
        return cls(model, False, 64, 60.0, 3, 50, 3000)


# --- the server -------------------------------------------------------------------------


@contextmanager
def serve(ref: str, log: Path) -> Iterator[Served]:
    """`bentoml serve` of the model `ref` names, with the service's defaults. The shipped
    model and folders need no model store, so they get an empty private one; a tag or
    `production` is read from this environment's BENTOML_HOME (or BentoML's default)."""
    model = str(Path(ref).resolve()) if ref != SHIPPED and is_folder_ref(ref) else ref
    env = {"CONFLICT_TAGGER_MODEL": model}
    with tempfile.TemporaryDirectory(prefix="reliability-home-") as home:
        if ref == SHIPPED or is_folder_ref(ref):
            env["BENTOML_HOME"] = home
        elif os.environ.get("BENTOML_HOME"):
            env["BENTOML_HOME"] = os.environ["BENTOML_HOME"]
        with launch(env, log) as server:
            yield server


def tree_rss(pid: int) -> int:
    """Resident bytes of `pid` and its descendants (BentoML's main process and workers)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for proc in procs:
        with suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total


class Sampler(threading.Thread):
    """Calls `probe` every `every` seconds until stopped, keeping (monotonic time, value)."""

    def __init__(self, probe: Callable[[], Any], every: float) -> None:
        super().__init__(daemon=True)
        self.probe, self.every = probe, every
        self.samples: list[tuple[float, Any]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while True:
            started = time.monotonic()
            self.samples.append((started, self.probe()))
            if self.done.wait(max(0.0, self.every - (time.monotonic() - started))):
                return

    def stop(self) -> None:
        self.done.set()
        self.join()

    def between(self, start: float, end: float) -> list[Any]:
        return [value for t, value in self.samples if start <= t <= end]


@dataclass(frozen=True)
class Poll:
    phase: str
    doing: str  # the battery's case in flight, if any
    seconds: float
    failure: str | None  # None: 200


class Liveness:
    """`GET /livez` every LIVEZ_EVERY s, on a connection of its own; `phase` names the part
    of the run each poll belongs to."""

    def __init__(self, url: str, phase: str) -> None:
        self.url, self.phase, self.doing = url, phase, ""
        self.client = httpx.Client(timeout=10.0)
        self.sampler = Sampler(self._poll, LIVEZ_EVERY)

    def _poll(self) -> Poll:
        phase, doing, started = self.phase, self.doing, time.perf_counter()
        try:
            status = self.client.get(f"{self.url}/livez").status_code
            failure = None if status == 200 else f"http_{status}"
        except httpx.HTTPError as err:
            failure = type(err).__name__
        return Poll(phase, doing, time.perf_counter() - started, failure)

    def __enter__(self) -> Liveness:
        self.sampler.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.sampler.stop()
        self.client.close()

    def polls(self) -> list[Poll]:
        return [p for _, p in self.sampler.samples]


# --- the battery -------------------------------------------------------------------------


@dataclass
class Sent:
    case: Case
    status: int | None  # None: no answer
    error: str | None  # transport error kind
    seconds: float
    retry_after: bool
    problems: list[str] = field(default_factory=list)
    chars: int = 0  # accepted requests: characters of their texts
    prose_seconds: float | None = None  # the same shape of request in prose

    @property
    def ratio(self) -> float | None:
        return self.seconds / self.prose_seconds if self.prose_seconds else None


def send(client: httpx.Client, url: str, case: Case) -> tuple[httpx.Response | None, float, str]:
    started = time.perf_counter()
    try:
        response = client.request(
            case.method, url + case.route, content=case.body, headers=dict(case.headers)
        )
    except httpx.HTTPError as err:
        return None, time.perf_counter() - started, type(err).__name__
    return response, time.perf_counter() - started, ""


def timed(client: httpx.Client, url: str, case: Case, repeats: int, first: float) -> float:
    """The fastest of `first` and `repeats - 1` more sends, for a request under a second."""
    best = first
    for _ in range(repeats - 1 if first < 1.0 else 0):
        response, seconds, _ = send(client, url, case)
        if response is not None and response.status_code == 200:
            best = min(best, seconds)
    return best


def run_case(client: httpx.Client, url: str, case: Case, repeats: int) -> Sent:
    response, seconds, error = send(client, url, case)
    if response is None:
        return Sent(case, None, error, seconds, False)
    sent = Sent(case, response.status_code, None, seconds, "retry-after" in response.headers)
    if response.status_code != 200:
        return sent
    try:
        sent.problems = answer_problems(case, response.json())
    except ValueError as err:
        sent.problems = [f"the answer is not JSON: {err}"]
    sent.chars = sum(map(len, texts_of(case) or []))
    sent.seconds = timed(client, url, case, repeats, seconds)
    return sent


def prose_like(case: Case) -> Case:
    """`case`'s request with news prose of the same length in place of each text."""
    lengths = [len(t) for t in texts_of(case) or []]
    texts = [prose_text(n, 1000 * i) for i, n in enumerate(lengths)]
    return Case(f"prose/{case.route}/{lengths}", body(case.route, texts), case.route)


def run_battery(
    url: str, cases: Sequence[Case], repeats: int, liveness: Liveness, log: Callable[[str], None]
) -> list[Sent]:
    """Each case, then for an accepted one the same request in prose (each shape once)."""
    sent, baselines = [], dict[str, float | None]()
    with httpx.Client(timeout=TIMEOUT) as client:
        for i, case in enumerate(cases):
            liveness.doing = case.name
            done = run_case(client, url, case, repeats)
            if done.status == 200:
                prose = prose_like(case)
                if prose.name not in baselines:
                    liveness.doing = f"prose like {case.name}"
                    check = run_case(client, url, prose, repeats)
                    baselines[prose.name] = check.seconds if check.status == 200 else None
                done.prose_seconds = baselines[prose.name]
            sent.append(done)
            if (i + 1) % 50 == 0:
                log(f"  battery: {i + 1}/{len(cases)} cases")
    return sent


# --- the load ----------------------------------------------------------------------------


@dataclass
class Answer:
    status: int | None
    error: str | None
    seconds: float
    retry_after: bool
    ended: float  # monotonic


@dataclass
class Load:
    clients: int
    seconds: float
    chars: int
    tokens: int
    answers: list[Answer]
    started: float
    ended: float  # the last answer (monotonic)
    rss_before: int
    rss_max: int
    short_median: float  # seconds, short requests before the load
    recovery: float | None  # seconds from `ended` to a short request within 2x that median
    recovery_tries: list[float] = field(default_factory=list)


def load_client(url: str, payload: bytes, deadline: float, out: list[Answer]) -> None:
    """One client: the next request as soon as the last is answered, or after a 503 as soon
    as its Retry-After allows; none starts after `deadline`."""
    with httpx.Client(timeout=TIMEOUT) as client:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                response = client.post(f"{url}/tag", content=payload, headers=dict(JSON))
            except httpx.HTTPError as err:
                out.append(Answer(None, type(err).__name__, 0.0, False, time.monotonic()))
                time.sleep(0.5)  # a server that is gone would make this loop spin
                continue
            seconds = time.perf_counter() - started
            wait = response.headers.get("retry-after")
            answer = Answer(response.status_code, None, seconds, wait is not None, time.monotonic())
            out.append(answer)
            if response.status_code == 503:
                pause = float(wait) if wait and wait.isdigit() else 1.0
                time.sleep(max(0.0, min(pause, deadline - time.monotonic())))


def short_latency(client: httpx.Client, url: str) -> float:
    """Seconds to tag one sentence; infinite if it is not answered 200 (a quick 503 is not
    a server that has recovered)."""
    started = time.perf_counter()
    try:
        response = client.post(f"{url}/tag", content=body("/tag", [SENTENCE]), headers=dict(JSON))
    except httpx.HTTPError:
        return math.inf
    seconds = time.perf_counter() - started
    return seconds if response.status_code == 200 else math.inf


def run_load(
    server: Served, texts: Sequence[str], tokens: int, seconds: float, rss: Sampler
) -> Load:
    with httpx.Client(timeout=TIMEOUT) as client:
        short_median = statistics.median(short_latency(client, server.url) for _ in range(20))
    answers: list[Answer] = []
    started = time.monotonic()
    deadline = started + seconds
    threads = [
        threading.Thread(
            target=load_client, args=(server.url, body("/tag", [t]), deadline, answers)
        )
        for t in texts
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ended = max((a.ended for a in answers), default=time.monotonic())
    recovery, tries = recover(server.url, 2 * short_median)
    during = rss.between(started, ended) or [0]
    before = rss.between(0, started)
    return Load(
        len(texts), seconds, len(texts[0]), tokens, answers, started, ended,
        before[-1] if before else 0, max(during), short_median, recovery, tries,
    )  # fmt: skip


def recover(url: str, within: float, limit: float = 60.0) -> tuple[float | None, list[float]]:
    """Short requests one after another from now until one is answered 200 within `within`
    seconds: how long after the first was sent that one was answered (None: not in `limit`
    s)."""
    tries: list[float] = []
    started = time.monotonic()
    with httpx.Client(timeout=TIMEOUT) as client:
        while time.monotonic() - started < limit:
            tries.append(short_latency(client, url))
            if tries[-1] <= within:
                return time.monotonic() - started, tries
    return None, tries


# --- the whole HTTP part -----------------------------------------------------------------


@dataclass
class Http:
    metadata: dict[str, Any]
    ready_seconds: float
    sent: list[Sent]
    load: Load
    polls: list[Poll]
    rss_max: int


def load_texts(
    artifact: Artifact, limits: Mapping[str, int], clients: int
) -> tuple[list[str], int]:
    """A 200,000-character prose text per client (each from another place in the articles),
    checked against the server's limits, and the most tokens any of them makes."""
    n = min(LOAD_CHARS, limits["max_chars"], limits["max_total_chars"])
    texts = [prose_text(n, 7919 * i) for i in range(clients)]
    tokenizer = artifact.tokenizer()
    tokens = max(len(e.ids) for e in tokenizer.encode_batch(texts))
    if tokens > limits["max_tokens"]:
        raise ValueError(
            f"the load's prose makes {tokens} tokens, over the server's max_tokens "
            f"({limits['max_tokens']}): raise CONFLICT_TAGGER_MAX_TOKENS or use shorter texts"
        )
    return texts, tokens


def http_checks(
    settings: Settings, artifact: Artifact, work: Path, log: Callable[[str], None]
) -> Http:
    with serve(settings.model, work / "serve.log") as server:
        metadata = httpx.get(f"{server.url}/metadata", timeout=30).json()
        limits = metadata["limits"]
        cases = battery(limits, settings.seed)
        rss = Sampler(lambda: tree_rss(server.process.pid), 1.0)
        rss.start()
        with Liveness(server.url, "battery") as liveness:
            log(f"battery: {len(cases)} cases against {server.url}")
            sent = run_battery(server.url, cases, settings.repeats, liveness, log)
            liveness.doing = ""
            texts, tokens = load_texts(artifact, limits, settings.load_clients)
            liveness.phase = "load"
            log(f"load: {settings.load_clients} clients x {len(texts[0])} characters, "
                f"{settings.load_seconds:.0f} s")  # fmt: skip
            load = run_load(server, texts, tokens, settings.load_seconds, rss)
        rss.stop()
        rss_all = max((v for _, v in rss.samples), default=0)
        return Http(metadata, server.ready_after, sent, load, liveness.polls(), rss_all)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", default=SHIPPED, help="shipped, an artifact folder, a tag")
    parser.add_argument(
        "--quick", action="store_true", help="load: 30 s, 8 clients; 10 kills; smaller inputs"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/reliability.md"))
    args = parser.parse_args(argv)
    settings = Settings.make(args.model, args.quick)
    command = "python -m benchmarks.reliability " + " ".join(sys.argv[1:] if argv is None else argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    artifact = resolve(settings.model)  # verified; the server resolves the same reference
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        work = Path(tmp)
        http = http_checks(settings, artifact, work, log)
        lab = labeler.run(settings.model, settings.kills, settings.records, settings.seed,
                          work / "labeler", log)  # fmt: skip
    machine_load = (load_before, os.getloadavg())
    report = render(settings, command.strip(), artifact, http, lab, machine_load)
    args.out.write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
