"""The HTTP benchmark: a real `bentoml serve` on localhost, loaded by benchmarks/http_load.py
in a second process.

`served(artifact)` starts the service on one artifact folder with a private BentoML home and
stops it, with every process it started, on exit. `run_load` drives one load run and samples
the server's memory meanwhile; `http_benchmark` runs every (corpus, concurrency) pair against
one server start. The server sees none of this process's `CONFLICT_TAGGER_*` or `BENTOML_*`
settings, only those passed in `env` (e.g. `CONFLICT_TAGGER_THREADS`), so a figure depends on
what the call says and not on the shell it ran in.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SERVICE = "serving.service:ConflictTagger"
# Settings the server must not inherit from the calling process.
OUR_ENV = ("CONFLICT_TAGGER_", "BENTOML_", "PROMETHEUS_MULTIPROC_DIR")
READY_TIMEOUT = 120.0  # a busy 2-core machine imports BentoML and loads the model slowly
SAMPLE_EVERY = 0.2


class ServeError(RuntimeError):
    """The server did not start; the message ends with the tail of its log."""


# --- processes, from /proc (Linux) ----------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def start_time(pid: int) -> int | None:
    """When `pid` started (clock ticks since boot): with the pid, names one process even if
    the pid is reused later. None for a process that is gone or a zombie."""
    fields = _stat(pid)
    return None if fields is None or fields[0] == "Z" else int(fields[19])


def descendants(pid: int) -> list[int]:
    """Every descendant of `pid`. BentoML's workers run in sessions of their own, so a
    process group does not reach them: they are found, measured and stopped by id."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        kids = [p for p, parent in parents.items() if parent == current]
        found += kids
        frontier += kids
    return found


def status_kib(pid: int, key: str) -> int:
    """A `kB` line of /proc/PID/status (VmRSS, VmHWM), in KiB; 0 for a process that is gone
    (or a zombie, which has none)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the server ---------------------------------------------------------------------------


@dataclass
class Served:
    """A running `bentoml serve`. `pids()` is its process tree now; memory figures sum over
    that tree, so they include BentoML's main process as well as the worker that holds the
    model."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    ready_after: float = 0.0
    # (pid, start time) of every process seen in the tree: what stop() must see gone.
    seen: set[tuple[int, int]] = field(default_factory=set)

    def pids(self) -> list[int]:
        """The server process and its descendants, alive now."""
        if self.process.poll() is not None:
            return []
        pids = [self.process.pid, *descendants(self.process.pid)]
        for pid in pids:
            if (started := start_time(pid)) is not None:
                self.seen.add((pid, started))
        return pids

    def rss_bytes(self) -> int:
        """Resident memory now: VmRSS summed over `pids()`. Pages shared between the
        processes count once per process, so this is an upper bound."""
        return 1024 * sum(status_kib(p, "VmRSS") for p in self.pids())

    def peak_rss_bytes(self) -> int:
        """VmHWM (each process's own peak RSS) summed over `pids()`: the peaks need not have
        been at the same moment, so this bounds the true peak from above; `run_load`'s
        sampled maximum bounds it from below."""
        return 1024 * sum(status_kib(p, "VmHWM") for p in self.pids())

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(self, timeout: float) -> None:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise ServeError(
                    f"bentoml serve exited with {self.process.returncode} before it was "
                    f"ready; its log ({self.log}) ends:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as r:
                    if r.status == 200:
                        self.ready_after = time.monotonic() - started
                        self.pids()
                        return
            except OSError:
                time.sleep(0.2)
        raise ServeError(
            f"bentoml serve was not ready after {timeout:.0f}s; its log ({self.log}) ends:\n"
            f"{self.log_tail()}"
        )

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM to the server, as a process manager would, then SIGKILL to whatever of its
        tree is still alive after `timeout` (by id and start time, so never a stranger that
        got a reused pid). Returns the server's exit code."""
        self.pids()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in self.alive():
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.process.returncode

    def alive(self) -> list[int]:
        """Processes of the tree ever seen that are still running (zombies do not count)."""
        return [pid for pid, started in self.seen if start_time(pid) == started]


@contextmanager
def launch(
    env: Mapping[str, str],
    log: Path,
    target: str = SERVICE,
    port: int | None = None,
    ready_timeout: float = READY_TIMEOUT,
) -> Iterator[Served]:
    """`bentoml serve TARGET` (this checkout's service, or a bento tag) on 127.0.0.1
    (`port`, else a free one), ready (`/readyz` answered 200) when this yields. The server
    sees none of this process's own settings (OUR_ENV), only `env`, and no tracking; its
    output goes to `log` (a start-up failure raises ServeError with the log's tail). On
    exit the whole process tree is stopped."""
    server_env = {k: v for k, v in os.environ.items() if not k.startswith(OUR_ENV)}
    server_env |= {"BENTOML_DO_NOT_TRACK": "True", **env}
    port = port or free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bentoml", "serve", target,
             "--host", "127.0.0.1", "--port", str(port)],
            # A bento runs its own copy of the code, not this checkout's.
            cwd=REPO if target == SERVICE else log.parent,
            env=server_env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    running = Served(f"http://127.0.0.1:{port}", process, log)
    try:
        running.wait_ready(ready_timeout)
        yield running
    finally:
        running.stop()


@contextmanager
def served(
    artifact: Path,
    env: dict[str, str] | None = None,
    port: int | None = None,
    log: Path | None = None,
    ready_timeout: float = READY_TIMEOUT,
) -> Iterator[Served]:
    """`launch` of the artifact folder `artifact`, with a private BentoML home and `env` on
    top (server settings: `CONFLICT_TAGGER_THREADS`, `..._PRECISION`, `..._TOKEN`, ...); the
    log defaults to a file in the temporary home, gone on exit."""
    artifact = Path(artifact).resolve()
    if not artifact.is_dir():
        raise FileNotFoundError(f"{artifact}: not an artifact folder (export a model first)")
    with tempfile.TemporaryDirectory(prefix="conflict-tagger-bench-") as tmp:
        home = Path(tmp) / "bentoml"
        (home / "models").mkdir(parents=True)
        server_env = {"CONFLICT_TAGGER_MODEL": str(artifact), "BENTOML_HOME": str(home)}
        log = log or Path(tmp) / "serve.log"
        with launch(server_env | (env or {}), log, port=port, ready_timeout=ready_timeout) as s:
            yield s


# --- load runs ----------------------------------------------------------------------------


class _Sampler(threading.Thread):
    """Samples the server's RSS every SAMPLE_EVERY seconds until stopped."""

    def __init__(self, server: Served) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.samples: list[int] = []
        self.done = threading.Event()

    def run(self) -> None:
        while True:
            self.samples.append(self.server.rss_bytes())
            if self.done.wait(SAMPLE_EVERY):
                return


def run_load(
    url: str,
    route: str,
    texts_file: Path,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
    warmup: int,
    token: str | None = None,
    *,
    server: Served | None = None,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """One run of `python -m benchmarks.http_load` against `url` (its arguments are the
    same); returns the generator's JSON. With `server`, adds its RSS sampled every
    SAMPLE_EVERY s during the run (`server_rss_bytes`: `max`, `last`, `samples`) and the
    summed per-process peak after it (`server_peak_rss_bytes`). Raises RuntimeError, with
    the generator's stderr, if it fails or outlives its own bounds."""
    command = [
        sys.executable, "-m", "benchmarks.http_load", "--url", url, "--route", route,
        "--texts", str(texts_file), "--concurrency", str(concurrency),
        "--max-requests", str(max_requests), "--max-seconds", str(max_seconds),
        "--warmup", str(warmup), "--timeout", str(timeout),
    ]  # fmt: skip
    if token:
        command += ["--token", token]
    # Warm-up and measured phases each stop at max_seconds, plus a request in flight and
    # the interpreter's start: past that the generator is stuck.
    limit = 2 * (max_seconds + timeout) + 30
    sampler = _Sampler(server) if server is not None else None
    if sampler is not None:
        sampler.start()
    try:
        done = subprocess.run(
            command, cwd=REPO, capture_output=True, text=True, timeout=limit, check=False
        )
    except subprocess.TimeoutExpired as err:
        raise RuntimeError(f"the load generator ran over {limit:.0f}s: {err.stderr!r}") from err
    finally:
        if sampler is not None:
            sampler.done.set()
            sampler.join()
    if done.returncode != 0:
        raise RuntimeError(
            f"the load generator failed ({done.returncode}): {done.stderr.strip()[-2000:]}"
        )
    report: dict[str, Any] = json.loads(done.stdout)
    if server is not None and sampler is not None:
        samples = [s for s in sampler.samples if s > 0] or [0]
        report["server_rss_bytes"] = {
            "max": max(samples), "last": samples[-1], "samples": len(samples)
        }  # fmt: skip
        report["server_peak_rss_bytes"] = server.peak_rss_bytes()
    return report


def http_benchmark(
    artifact: Path,
    corpora: Mapping[str, Path],
    concurrencies: Sequence[int] = (1, 8, 32, 64),
    max_requests: int = 2000,
    max_seconds: float = 30.0,
    env: dict[str, str] | None = None,
    routes: Sequence[str] = ("/tag",),
    warmup: int = 20,
    log: Path | None = None,
) -> list[dict[str, Any]]:
    """Every (route, corpus, concurrency) against one server start; a row per run: its
    `corpus` name, `server_ready_seconds` and `run_load`'s report. Each corpus is a JSON
    Lines file of `{"text": ...}`. Before the rows, the server is warmed up on each corpus
    and route (not reported); each run then warms its own connections with
    max(warmup, concurrency) requests, so every virtual user has its connection open before
    timing starts. Token: `CONFLICT_TAGGER_TOKEN` in `env`, if any, is sent."""
    token = (env or {}).get("CONFLICT_TAGGER_TOKEN") or None
    rows = []
    with served(artifact, env=env, log=log) as server:
        for route in routes:
            for texts in corpora.values():
                n = max(warmup, *concurrencies)
                run_load(server.url, route, texts, max(concurrencies), n, max_seconds, 0, token)
        for route in routes:
            for name, texts in corpora.items():
                for concurrency in concurrencies:
                    report = run_load(
                        server.url, route, texts, concurrency, max_requests, max_seconds,
                        max(warmup, concurrency), token, server=server,
                    )  # fmt: skip
                    rows.append({"corpus": name, "server_ready_seconds": server.ready_after}
                                | report)  # fmt: skip
    return rows
