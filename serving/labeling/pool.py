"""Running the model on units of texts: in worker processes, or in this one (workers=0).

Each worker loads the model once and gets cores // workers ONNX Runtime threads.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor

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
    """Tag a batch; if the batch fails, each text alone, so one bad text loses only itself."""
    try:
        return [(True, r.model_dump_json()) for r in tagger.tag(texts)]
    except Exception:
        return [_tag_one(tagger, t) for t in texts]


def _tag_one(tagger: Tagger, text: str) -> Outcome:
    try:
        return True, tagger.tag([text])[0].model_dump_json()
    except Exception as err:  # any failure is this record's, reported, never fatal
        return False, f"tagging failed: {type(err).__name__}: {err}"


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


class Runner:
    """Units to the model: a process pool, or this process (workers=0)."""

    def __init__(self, workers: int, artifact: Artifact, settings: RuntimeSettings) -> None:
        self.pool: ProcessPoolExecutor | None = None
        self.local: Tagger | None = None
        if workers:
            methods = multiprocessing.get_all_start_methods()
            # Not fork: forking a process that runs threads can deadlock the child.
            method = "forkserver" if "forkserver" in methods else "spawn"
            self.pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context(method),
                initializer=_init_worker,
                initargs=(artifact, settings),
            )
        else:
            self.local = Tagger(artifact, settings)

    def submit(self, texts: list[str]) -> Future[list[Outcome]]:
        if self.pool is not None and texts:
            return self.pool.submit(_tag_in_worker, texts)
        done: Future[list[Outcome]] = Future()
        done.set_result(tag_texts(self.local, texts) if self.local and texts else [])
        return done

    def close(self) -> None:
        """Stop the workers, dropping units not yet started (the run is over or failed)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
