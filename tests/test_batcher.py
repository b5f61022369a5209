"""The request batcher: concurrent requests share model calls, answers keep their order,
and one request's failure stays its own."""

from __future__ import annotations

import threading
import time

import pytest

from serving.batcher import Batcher


def test_a_lone_request_runs_at_once_and_queued_ones_share_a_call() -> None:
    calls: list[list[str]] = []
    gate = threading.Event()

    def run(texts: list[str]) -> list[str]:
        calls.append(texts)
        if texts == ["first"]:
            gate.wait(5)  # hold the model while the others queue up
        return [t.upper() for t in texts]

    batcher = Batcher(run, max_docs=10)
    first = batcher.submit(["first"])
    time.sleep(0.05)
    rest = [batcher.submit([f"d{i}"]) for i in range(3)] + [batcher.submit(["x", "y"])]
    gate.set()
    assert first.result(5) == ["FIRST"]
    assert [f.result(5) for f in rest] == [["D0"], ["D1"], ["D2"], ["X", "Y"]]
    assert calls == [["first"], ["d0", "d1", "d2", "x", "y"]]


def test_max_docs_bounds_a_call_but_never_splits_a_request() -> None:
    calls: list[int] = []
    gate = threading.Event()

    def run(texts: list[str]) -> list[int]:
        calls.append(len(texts))
        gate.wait(5)
        return [len(t) for t in texts]

    batcher = Batcher(run, max_docs=3)
    held = batcher.submit(["a"])
    time.sleep(0.05)
    futures = [batcher.submit(["bb", "cc"]), batcher.submit(["ddd", "e", "f", "g"]),
               batcher.submit(["h"])]  # fmt: skip
    gate.set()
    assert held.result(5) == [1]
    assert [f.result(5) for f in futures] == [[2, 2], [3, 1, 1, 1], [1]]
    assert calls == [1, 6, 1]  # whole requests are taken until max_docs is reached


def test_a_failing_request_does_not_fail_the_others() -> None:
    gate = threading.Event()

    def run(texts: list[str]) -> list[str]:
        gate.wait(5)
        if "bad" in texts:
            raise ValueError("bad input")
        return texts

    batcher = Batcher(run)
    held = batcher.submit(["warm"])
    time.sleep(0.05)
    good, bad = batcher.submit(["ok"]), batcher.submit(["bad"])
    gate.set()
    assert held.result(5) == ["warm"]
    assert good.result(5) == ["ok"]
    with pytest.raises(ValueError, match="bad input"):
        bad.result(5)


def test_under_load_a_call_lingers_for_more_requests() -> None:
    calls: list[list[str]] = []
    gate = threading.Event()

    def run(texts: list[str]) -> list[str]:
        calls.append(texts)
        gate.wait(5)
        return texts

    batcher = Batcher(run, linger=0.2)
    held = batcher.submit(["a"])
    time.sleep(0.05)
    first_pair = [batcher.submit(["b"]), batcher.submit(["c"])]
    gate.set()
    held.result(5)
    [f.result(5) for f in first_pair]  # a call of two: the batcher is now under load
    late = batcher.submit(["d"])
    time.sleep(0.05)  # within the linger: joins "d" in one call
    also = batcher.submit(["e"])
    assert late.result(5) == ["d"] and also.result(5) == ["e"]
    assert calls == [["a"], ["b", "c"], ["d", "e"]]


class Panic(BaseException):
    """What a Rust extension raises on a panic: not an Exception."""


def test_a_panic_fails_only_its_call_and_the_next_request_succeeds() -> None:
    def run(texts: list[str]) -> list[str]:
        if "panic" in texts:
            raise Panic("tokenizer panicked")
        return [t.upper() for t in texts]

    batcher = Batcher(run)
    failed = batcher.submit(["panic"])
    with pytest.raises(RuntimeError, match="Panic: tokenizer panicked"):
        failed.result(5)
    assert batcher.submit(["ok"]).result(5) == ["OK"]
    assert batcher.alive and batcher.restarts == 0


# The thread is killed on purpose here; pytest reports the exit of any thread that dies.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_model_thread_is_started_again() -> None:
    batcher = Batcher(lambda texts: [t.upper() for t in texts])
    assert batcher.submit(["a"]).result(5) == ["A"]
    # Kill the loop the hard way: make its queue read raise SystemExit once.
    original = batcher._take
    calls = iter([True])

    def dying() -> list[tuple[list[str], object]]:
        if next(calls, False):
            raise SystemExit
        return original()  # type: ignore[return-value]

    batcher._take = dying  # type: ignore[method-assign]
    batcher.submit(["wake"])  # the thread takes this wake-up and dies
    batcher._thread.join(5)
    assert not batcher.alive
    assert batcher.submit(["b"]).result(5) == ["B"]
    assert batcher.alive and batcher.restarts == 1


def test_tokens_bound_a_call_and_a_large_request_runs_alone() -> None:
    calls: list[list[str]] = []
    gate = threading.Event()

    def run(texts: list[str]) -> list[int]:
        calls.append(texts)
        gate.wait(5)
        return [len(t) for t in texts]

    batcher = Batcher(run, max_cost=10)  # cost: characters, as the service's is tokens
    held = batcher.submit(["a"])
    time.sleep(0.05)
    futures = [batcher.submit([t]) for t in ("x" * 5, "y" * 4, "z" * 20, "w" * 3)]
    gate.set()
    assert held.result(5) == [1]
    assert [f.result(5) for f in futures] == [[5], [4], [20], [3]]
    assert calls == [["a"], ["x" * 5, "y" * 4], ["z" * 20], ["w" * 3]]


def test_a_request_cancelled_before_its_call_costs_no_model_time() -> None:
    seen: list[str] = []
    gate = threading.Event()

    def run(texts: list[str]) -> list[str]:
        seen.extend(texts)
        gate.wait(5)
        return texts

    batcher = Batcher(run)
    held = batcher.submit(["held"])
    time.sleep(0.05)
    gone = batcher.submit(["gone"])  # its client disconnects: the service cancels it
    assert gone.cancel()
    kept = batcher.submit(["kept"])
    gate.set()
    assert held.result(5) == ["held"] and kept.result(5) == ["kept"]
    assert seen == ["held", "kept"] and batcher.skipped == 1


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_without_a_model_thread_requests_fail_at_once_and_it_is_not_ready() -> None:
    batcher = Batcher(lambda texts: texts)
    original = batcher._take

    def dying() -> list[tuple[list[str], int, object]]:
        raise SystemExit

    batcher._take = dying  # type: ignore[method-assign]
    batcher.submit(["wake"]).cancel()
    batcher._thread.join(5)

    def no_threads() -> threading.Thread:
        raise RuntimeError("can't start new thread")

    start = batcher._start
    batcher._start = no_threads  # type: ignore[method-assign]
    assert not batcher.ready
    with pytest.raises(RuntimeError, match="could not be restarted: can't start new thread"):
        batcher.submit(["a"]).result(1)
    batcher._start, batcher._take = start, original  # type: ignore[method-assign]
    assert batcher.ready
    assert batcher.submit(["b"]).result(5) == ["b"]


def test_the_model_speed_is_measured_on_its_calls() -> None:
    gate = threading.Event()

    def run(texts: list[str]) -> list[int]:
        if texts == ["warm" * 25]:
            time.sleep(0.1)  # 100 characters in 0.1 s: about 1,000 a second
        else:
            gate.wait(5)
        return [len(t) for t in texts]

    batcher = Batcher(run)  # cost: characters
    assert batcher.rate == 2_000.0  # assumed until measured
    batcher.submit(["warm" * 25]).result(5)
    assert 500 < batcher.rate < 1_900  # moved from the assumed 2,000 towards ~1,000
    held = batcher.submit(["h" * 300])
    time.sleep(0.05)
    queued = batcher.submit(["q" * 400])
    assert batcher.waiting == 400  # taken: only what is not yet in a call
    gate.set()
    assert held.result(5) == [300] and queued.result(5) == [400]
    assert batcher.waiting == 0
