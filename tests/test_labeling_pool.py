"""A broken pool's cleanup cannot hang on a worker that ignores SIGTERM (a CI run hung
there on 2026-12-05: CPython's broken-pool cleanup sends SIGTERM, then waits)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from serving.labeling.pool import stop_broken


def _deaf(pid_file: str) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    Path(pid_file).with_suffix(".tmp").write_text(str(os.getpid()))
    Path(pid_file).with_suffix(".tmp").rename(pid_file)  # whole, or not there
    time.sleep(600)


def _die() -> None:
    os._exit(1)


def _meet(folder: str, n: int) -> int:
    """Wait until `n` workers have arrived: the pool must have started that many."""
    Path(folder, str(os.getpid())).touch()
    deadline = time.monotonic() + 60
    while len(list(Path(folder).iterdir())) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return os.getpid()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stopping_a_broken_pool_kills_a_worker_that_ignores_sigterm(tmp_path: Path) -> None:
    pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
    # Both workers first, as Runner._start does: a worker started by the submit of the
    # task that kills it goes unwatched (CPython 3.11 wakes the manager before starting it).
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    waits = [pool.submit(_meet, str(meeting), 2) for _ in range(2)]
    started = {f.result(timeout=120) for f in waits}
    assert len(started) == 2
    pid_file = tmp_path / "deaf.pid"
    deaf = pool.submit(_deaf, str(pid_file))
    deadline = time.monotonic() + 60
    while not pid_file.exists():
        assert time.monotonic() < deadline, "the worker never started"
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    try:
        with pytest.raises(BrokenProcessPool):
            pool.submit(_die).result(timeout=60)  # the other worker dies: the pool breaks
        assert _alive(pid)  # SIGTERM, sent by the broken pool's cleanup, was ignored
        stopper = threading.Thread(target=stop_broken, args=(pool,), daemon=True)
        stopper.start()
        stopper.join(60)
        assert not stopper.is_alive(), "stop_broken still waits for the worker"
        assert not _alive(pid)
        with pytest.raises(BrokenProcessPool):
            deaf.result(timeout=0)
    finally:  # a failing run must not leave the worker behind
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
