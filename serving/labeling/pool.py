"""Running the model on units of texts: in worker processes, or in this one (workers=0).

Each worker loads the model once and gets cores // workers ONNX Runtime threads. A text
that makes tagging raise, or kills its worker process, loses only itself.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from serving.artifact import Artifact, resolve
from serving.tagger import RuntimeSettings, Tagger

Outcome = tuple[bool, str]  # (True, tags JSON) or (False, why tagging failed)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def plan_workers(requested: int | None, cores: int) -> tuple[int, int]:
    """(worker processes, ONNX Runtime threads each); workers x threads <= cores.

    By default one single-threaded worker per core: documents are independent and small,
    so processes scale better than ONNX Runtime's intra-op threads (which also leave the
    Python half of the pipeline, tokenizing and decoding, on one core). 0 workers: tag in
    this process with every core."""
    if requested == 0:
        return 0, cores
    workers = min(requested or max(1, cores), cores)
    return workers, max(1, cores // workers)


def resolve_model(ref: str) -> Artifact:
    """The verified artifact (`serving.artifact.resolve`); resolved once, so every worker
    loads the same version even if `production` moves meanwhile."""
    return resolve(ref)


def tag_texts(tagger: Tagger, texts: list[str]) -> list[Outcome]:
    """Tag a batch; if the batch fails, each text alone, so one bad text loses only itself.
    Anything raised counts, not only an Exception: a panic in the Rust tokenizer arrives as
    pyo3's PanicException, a BaseException."""
    try:
        return [(True, r.model_dump_json()) for r in tagger.tag(texts)]
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:
        return [_tag_one(tagger, t) for t in texts]


def _tag_one(tagger: Tagger, text: str) -> Outcome:
    try:
        return True, tagger.tag([text])[0].model_dump_json()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as err:  # any failure is this record's, reported, never fatal
        return False, f"tagging failed: {type(err).__name__}: {err}"


WORKER_DIED = (
    "the worker process died while tagging this text alone (a crash in native code, or out "
    "of memory?); the other texts of its batch were tagged without it. Check this record"
)


class WorkersDie(RuntimeError):
    """Fresh worker processes die before tagging anything: the run cannot go on."""


_WORKER: dict[str, Tagger] = {}  # the model, loaded once per worker process


def _init_worker(artifact: Artifact, settings: RuntimeSettings) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    os.environ.setdefault("RAYON_NUM_THREADS", str(settings.threads or 1))  # tokenizers
    _watch_parent()
    _WORKER["tagger"] = Tagger(artifact, settings)


def _watch_parent() -> None:
    """Exit when the labeling process dies (even by SIGKILL) rather than linger holding a
    model. Its sentinel, not the parent pid: under forkserver the parent is the fork
    server, which itself waits for its children."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _tag_in_worker(texts: list[str]) -> list[Outcome]:
    return tag_texts(_WORKER["tagger"], texts)


def done(outcomes: list[Outcome]) -> Future[list[Outcome]]:
    future: Future[list[Outcome]] = Future()
    future.set_result(outcomes)
    return future


def stop_broken(pool: ProcessPoolExecutor) -> None:
    """Shut down a pool one of whose workers died, killing its survivors first. CPython's
    cleanup of a broken pool sends them SIGTERM and then waits for each; a survivor that
    did not exit hung a CI run there (2026-12-05), and SIGKILL cannot be ignored."""
    processes = getattr(pool, "_processes", None) or {}  # private, but the only handle
    for process in list(processes.values()):
        if process.is_alive():
            process.kill()
    pool.shutdown(wait=True, cancel_futures=True)


def _ready() -> bool:
    return "tagger" in _WORKER


class Runner:
    """Units to the model: a process pool, or this process (workers=0).

    A worker that dies (a crash in native code, out of memory) takes every unit in flight
    with the pool. The next submit starts a new pool, and `settled` tags each lost unit
    again in a pool of its own (`retry`), where nothing else runs, so that a death there is
    that unit's doing."""

    def __init__(self, workers: int, artifact: Artifact, settings: RuntimeSettings) -> None:
        self.workers, self.artifact, self.settings = workers, artifact, settings
        self.pool: ProcessPoolExecutor | None = None
        self.spare: ProcessPoolExecutor | None = None  # one worker, for retries
        self.local: Tagger | None = None
        if workers:
            self.pool = self._start(workers)
        else:
            self.local = Tagger(artifact, settings)

    def _start(self, workers: int) -> ProcessPoolExecutor:
        methods = multiprocessing.get_all_start_methods()
        # Not fork: forking a process that runs threads can deadlock the child.
        method = "forkserver" if "forkserver" in methods else "spawn"
        pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context(method),
            initializer=_init_worker,
            initargs=(self.artifact, self.settings),
        )
        try:
            # Every worker now, not on demand: CPython 3.11 wakes the pool's manager before
            # a submit starts a worker, so the manager may not watch it until its next
            # event, and that worker's death can leave its unit waiting for ever.
            for ready in [pool.submit(_ready) for _ in range(workers)]:
                ready.result()
        except BrokenProcessPool:
            stop_broken(pool)
            raise WorkersDie("worker processes die as they start (out of memory?)") from None
        return pool

    def submit(self, texts: list[str]) -> Future[list[Outcome]]:
        if self.pool is None or not texts:
            return done(tag_texts(self.local, texts) if self.local and texts else [])
        try:
            return self.pool.submit(_tag_in_worker, texts)
        except BrokenProcessPool:  # a worker died since the last submit
            stop_broken(self.pool)
            self.pool = self._start(self.workers)
            return self.pool.submit(_tag_in_worker, texts)

    def settled(self, future: Future[list[Outcome]], texts: list[str]) -> Future[list[Outcome]]:
        """`future` once done; if its worker died, the texts tagged again by `retry`."""
        if isinstance(future.exception(), BrokenProcessPool):
            return done(self.retry(texts))
        return future

    def retry(self, texts: list[str]) -> list[Outcome]:
        """The texts again as one unit (the same batch gives the same scores); if that
        kills the worker too, each text alone, so only a text that kills it is lost."""
        try:
            return self._alone(texts)
        except BrokenProcessPool:
            pass
        outcomes: list[Outcome] = []
        for text in texts:
            try:
                outcomes += self._alone([text])
            except BrokenProcessPool:
                outcomes.append((False, WORKER_DIED))
        return outcomes

    def _alone(self, texts: list[str]) -> list[Outcome]:
        if self.spare is None:
            self.spare = self._start(1)
        try:
            return self.spare.submit(_tag_in_worker, texts).result()
        except BrokenProcessPool:
            stop_broken(self.spare)
            self.spare = None
            raise

    def close(self) -> None:
        """Stop the workers, dropping units not yet started (the run is over or failed)."""
        for pool in (self.pool, self.spare):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
