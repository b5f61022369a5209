"""Merges concurrent requests into one model call, without waiting for a batch to fill.

One thread owns the model. It takes the first request waiting, plus every other request
queued by then (up to `max_docs` documents and `max_cost` tokens: one huge request is not
merged with small ones, whose answers would wait for it), tags them in one call and
answers each. Requests cancelled before their call (a client that went away) are
skipped. A lone request is run at once, so latency at low load is unchanged; under load
(the last call merged several), it lingers a millisecond for more: 32 short sentences tag
10% faster each than 16. ONNX Runtime is never called from two threads at a time, so its
intra-op threads do not compete with each other for the cores.

It measures the model's speed (cost per second over past calls; tokens, for the service):
the service's guard refuses new requests while the tokens already taken would keep the
model busier than its limit (503 with Retry-After), so a burst of long texts is shed at
once instead of every client timing out in the queue.

The thread is supervised: anything a model call raises, `BaseException`s included (a Rust
tokenizer's panic is one), fails only the requests of that call; should the thread die
all the same, the next `submit` (or readiness probe) starts a new one, so no request waits
for a dead thread; if no thread can be started, `ready` is false and requests fail at once.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

R = TypeVar("R")
Unit = tuple[list[str], int, Future[list[R]]]  # texts, their cost, the caller's future


def _chars(texts: list[str]) -> int:
    return sum(map(len, texts))


# Cost per second assumed before a call has been measured: news prose on 2 busy CPU cores
# tags at about 2,500 tokens/s (benchmarks/reliability.md); a low guess sheds early.
ASSUMED_RATE = 2_000.0


class Batcher(Generic[R]):
    def __init__(
        self, run: Callable[[list[str]], list[R]], max_docs: int = 64, name: str = "batcher",
        linger: float = 0.001, cost: Callable[[list[str]], int] = _chars,
        max_cost: int | None = None,
    ) -> None:  # fmt: skip
        self._run = run
        self.max_docs = max_docs
        self.cost = cost  # what a request costs a model call (the service: its tokens)
        self.max_cost = max_cost
        self.skipped = 0  # requests cancelled before their model call
        self.broken: str | None = None  # why no model thread could be started
        # Under load (the last call merged several requests), wait this long for more to
        # arrive: bigger calls tag faster per document. A lone request never waits.
        self.linger = linger
        self._busy = False
        self._queue: queue.SimpleQueue[Unit[R]] = queue.SimpleQueue()
        self._held: Unit[R] | None = None  # taken but over this call's cost: the next call's
        self._name = name
        self._lock = threading.Lock()
        self.restarts = 0  # threads started again after one died
        self._waiting = 0  # cost submitted and not yet taken into a model call
        self.rate = ASSUMED_RATE  # cost per second of model calls, measured
        self._thread = self._start()

    def _start(self) -> threading.Thread:
        thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
        thread.start()
        return thread

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def ready(self) -> bool:
        """A model thread runs, started again here if it died (readiness probes ask)."""
        self._ensure_thread()
        return self.broken is None

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread.is_alive():
                return
            try:
                self._thread = self._start()
            except RuntimeError as err:  # "can't start new thread": out of threads or memory
                self.broken = f"the model thread could not be restarted: {err}"
                return
            self.restarts += 1
            self.broken = None

    @property
    def waiting(self) -> int:
        """Cost queued for the model and not yet in a call."""
        return self._waiting

    def submit(self, texts: Sequence[str]) -> Future[list[R]]:
        """The results of `texts`, in order, once a model call has tagged them. Counts
        their cost here: call it off the event loop for long texts."""
        future: Future[list[R]] = Future()
        texts = list(texts)
        self._ensure_thread()
        if self.broken is not None:
            future.set_exception(RuntimeError(self.broken))
            return future
        cost = self.cost(texts)
        with self._lock:
            self._waiting += cost
        self._queue.put((texts, cost, future))
        return future

    def _next(self, wait: float | None) -> Unit[R]:
        if self._held is not None:
            unit, self._held = self._held, None
            return unit
        if wait is None or wait > 0:
            return self._queue.get(timeout=wait)
        return self._queue.get_nowait()

    def _take(self) -> list[Unit[R]]:
        units = [self._next(None)]
        docs, cost = len(units[0][0]), units[0][1]
        deadline = time.monotonic() + (self.linger if self._busy else 0.0)
        while docs < self.max_docs:
            try:
                unit = self._next(deadline - time.monotonic())
            except queue.Empty:
                break
            if self.max_cost is not None and cost + unit[1] > self.max_cost:
                self._held = unit  # first in the next call: order is kept
                break
            units.append(unit)
            docs, cost = docs + len(unit[0]), cost + unit[1]
        self._busy = len(units) > 1
        with self._lock:
            self._waiting -= cost
        return units

    def _loop(self) -> None:
        while True:
            units = []
            cost = 0
            for texts, unit_cost, future in self._take():
                if future.set_running_or_notify_cancel():
                    units.append((texts, future))
                    cost += unit_cost
                else:
                    self.skipped += 1
            if not units:
                continue
            try:
                results = self._timed([t for texts, _ in units for t in texts], cost)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as err:  # a panic in native code too: the thread goes on
                if len(units) == 1:
                    units[0][1].set_exception(_as_exception(err))
                    continue
                # One request's bad input must not fail the others: tag each on its own.
                for unit in units:
                    self._answer(*unit)
                continue
            start = 0
            for texts, future in units:
                future.set_result(results[start : start + len(texts)])
                start += len(texts)

    def _timed(self, texts: list[str], cost: int) -> list[R]:
        """Run one call; a call long enough to time well updates the measured speed."""
        started = time.monotonic()
        try:
            return self._run(texts)
        finally:
            seconds = time.monotonic() - started
            if seconds > 0.05 and cost > 0:
                self.rate = 0.7 * self.rate + 0.3 * cost / seconds

    def _answer(self, texts: list[str], future: Future[list[R]]) -> None:
        try:
            future.set_result(self._run(texts))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as err:
            future.set_exception(_as_exception(err))


def _as_exception(err: BaseException) -> Exception:
    """An `Exception` for the waiting request: asyncio re-raises a `BaseException` set on a
    future in the event loop, where it would stop the server rather than one request."""
    if isinstance(err, Exception):
        return err
    wrapped = RuntimeError(f"the model call failed: {type(err).__name__}: {err}")
    wrapped.__cause__ = err
    return wrapped
