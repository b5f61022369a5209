"""Before/after figures for the knobs the performance work set, each measured in this process
on the short corpus: `python -m benchmarks.levers [--artifact DIR] [--corpus FILE]`.

- the request batcher's linger (serving/batcher.py), with 32 client threads each sending
  one document at a time, as the HTTP service sees them but without HTTP;
- the engine's documents per call (what a batcher call or a labeler unit hands it);
- the batch labeler's records per worker unit (`label --batch-docs`).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.http_load import read_texts

ARTIFACT = Path("runs/default/artifact")
CORPUS = Path("data/work/bench/short.jsonl")


def batcher_rate(artifact: Path, texts: list[str], linger: float, clients: int = 32) -> str:
    from serving.batcher import Batcher
    from serving.tagger import RuntimeSettings, Tagger

    tagger = Tagger.from_artifact(artifact, RuntimeSettings(threads=2))
    sizes: list[int] = []

    def run(batch: list[str]) -> list[object]:
        sizes.append(len(batch))
        return list(tagger.tag(batch))

    batcher: Batcher[object] = Batcher(run, linger=linger)
    tagger.tag(texts[:8])
    queue = iter(texts)
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                text = next(queue, None)
            if text is None:
                return
            batcher.submit([text]).result()

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rate = len(texts) / (time.perf_counter() - start)
    return f"{rate:,.1f} docs/s, {sum(sizes) / len(sizes):.1f} documents per call"


def chunk_rate(artifact: Path, texts: list[str], chunk: int) -> str:
    from serving.tagger import RuntimeSettings, Tagger

    tagger = Tagger.from_artifact(artifact, RuntimeSettings(threads=2))
    tagger.tag(texts[:8])
    start = time.perf_counter()
    for i in range(0, len(texts), chunk):
        tagger.tag(texts[i : i + chunk])
    return f"{len(texts) / (time.perf_counter() - start):,.1f} docs/s"


def labeler_rate(artifact: Path, corpus: Path, batch_docs: int) -> str:
    from serving.labeling.job import LabelJob
    from serving.labeling.run import label_file

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        job = LabelJob(input=corpus, output=Path(tmp) / "out.jsonl", model=str(artifact),
                       id_field=None, progress=False, batch_docs=batch_docs)  # fmt: skip
        summary = label_file(job)
        return f"{summary.records_in / (time.perf_counter() - start):,.1f} docs/s"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--artifact", type=Path, default=ARTIFACT)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args(argv)
    texts = read_texts(args.corpus)
    print("| lever | setting | measured |\n|---|---|---|")

    def row(lever: str, setting: str, measured: str) -> None:
        print(f"| {lever} | {setting} | {measured} |", flush=True)

    for linger in (0.0, 0.001, 0.002, 0.005):
        row("batcher linger, 32 clients", f"{1000 * linger:g} ms",
            batcher_rate(args.artifact, texts, linger))  # fmt: skip
    for chunk in (1, 16, 32, 64, 256):
        row("engine documents per call", str(chunk), chunk_rate(args.artifact, texts, chunk))
    for batch_docs in (64, 256):
        row("labeler records per worker unit", str(batch_docs),
            labeler_rate(args.artifact, args.corpus, batch_docs))  # fmt: skip


if __name__ == "__main__":  # pragma: no cover  (the labeler's workers re-import this module)
    main()
