"""Offline labeling throughput: documents/s, tokens/s and peak RSS of one system on one
corpus, each measurement in a fresh process.

Systems: `engine-int8` / `engine-fp32` (our Tagger end to end: tokenize -> windows -> ONNX
Runtime -> decode -> results), `hf-pipeline` (the same fine-tuned encoder and entity head
through a `transformers` token-classification pipeline in PyTorch eager, one document per
call) and `hf-bert-base` (the same pipeline around a random BERT-base-sized encoder).

`measure(...)` (the parent) runs `python -m benchmarks.offline --system ...` (the child)
`runs` times, so a measurement's peak RSS is its own and no system warms another's
caches. Model loading is timed apart; one document is run untimed first to warm up.
Tokens/s is always our tokenizer's content-token count of the documents timed, so every
system is divided by the same work.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.corpora import DEFAULT_ARTIFACT, Corpus
from benchmarks.http_load import read_texts
from training.corpus.sources import project_root

SYSTEMS = (
    "engine-int8", "engine-fp32", "labeler", "labeler-ray", "hf-pipeline", "hf-bert-base",
)  # fmt: skip
DEFAULT_MODEL = project_root() / "runs" / "default" / "model"
CHUNK = 256  # documents per Tagger.tag call


@dataclass(frozen=True)
class Row:
    system: str
    corpus: str
    documents: int  # documents timed per run
    docs_per_s: float  # median over runs
    docs_per_s_min: float
    docs_per_s_max: float
    tokens_per_s: float  # our content tokens of the documents timed / median seconds
    peak_rss_mib: float  # largest over runs
    seconds: float  # median
    load_seconds: float  # median
    threads: int
    runs: int
    note: str = ""


def measure(
    system: str, corpus: Corpus | Path, runs: int = 3, threads: int = 2,
    limit: int | None = None, artifact: Path | str = DEFAULT_ARTIFACT,
    model: Path | str = DEFAULT_MODEL, timeout: float | None = None,
) -> Row:  # fmt: skip
    """Time `system` on the first `limit` documents of `corpus` (all if None), `runs`
    times, each in a fresh process; figures are medians (peak RSS: the largest)."""
    if system not in SYSTEMS:
        raise ValueError(f"unknown system {system!r}; choose one of {', '.join(SYSTEMS)}")
    if runs < 1:
        raise ValueError("runs must be at least 1")
    path = corpus.path if isinstance(corpus, Corpus) else Path(corpus)
    name = corpus.name if isinstance(corpus, Corpus) else path.stem
    texts = read_texts(path, limit)
    tokens = _count_tokens(Path(artifact), texts)
    results = []
    with tempfile.TemporaryDirectory(prefix="offline-bench-") as tmp:
        for i in range(runs):
            out = Path(tmp) / f"run{i}.json"
            cmd = [
                sys.executable, "-m", "benchmarks.offline", "--system", system,
                "--corpus", str(path), "--threads", str(threads), "--json", str(out),
                "--artifact", str(artifact), "--model", str(model),
            ]  # fmt: skip
            if limit is not None:
                cmd += ["--limit", str(limit)]
            done = subprocess.run(
                cmd, cwd=project_root(), capture_output=True, text=True, timeout=timeout,
                env=_child_env(threads),
            )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(
                    f"{system} on {path} failed (exit {done.returncode}):\n{done.stderr[-3000:]}"
                )
            results.append(json.loads(out.read_text(encoding="utf-8")))
    rates = [r["documents"] / r["seconds"] for r in results]
    seconds = statistics.median(r["seconds"] for r in results)
    return Row(
        system=system, corpus=name, documents=results[0]["documents"],
        docs_per_s=statistics.median(rates), docs_per_s_min=min(rates),
        docs_per_s_max=max(rates), tokens_per_s=tokens / seconds,
        peak_rss_mib=max(r["peak_rss_mib"] for r in results), seconds=seconds,
        load_seconds=statistics.median(r["load_seconds"] for r in results),
        threads=threads, runs=runs, note=results[0].get("note", ""),
    )  # fmt: skip


def _child_env(threads: int) -> dict[str, str]:
    # Pin the BLAS / OpenMP pools too, so a system cannot use more cores than it was given.
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    env["TOKENIZERS_PARALLELISM"] = "false"
    return env


def _count_tokens(folder: Path, texts: list[str]) -> int:
    from serving.tokenizer import Tokenizer

    tokenizer = Tokenizer.from_file(folder / "tokenizer.json")
    return sum(len(e.ids) for e in tokenizer.encode_batch(texts))


def to_markdown(rows: Sequence[Row]) -> str:
    head = (
        "| system | corpus | docs | docs/s (min-max) | tokens/s | peak RSS MiB | load s "
        "| threads |\n|---|---|---:|---:|---:|---:|---:|---:|\n"
    )
    body = "".join(
        f"| {r.system} | {r.corpus} | {r.documents} | {r.docs_per_s:.1f} "
        f"({r.docs_per_s_min:.1f}-{r.docs_per_s_max:.1f}) | {r.tokens_per_s:,.0f} "
        f"| {r.peak_rss_mib:.0f} | {r.load_seconds:.1f} | {r.threads} |\n"
        for r in rows
    )
    return head + body


# --- the child: one system, one corpus, one process ---------------------------------


class TreeRss:
    """The largest resident set of this process and its descendants together, sampled
    every 0.1 s while running (the labeler's workers come and go with the run)."""

    def __init__(self) -> None:
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        from benchmarks.serve import descendants, status_kib

        me = os.getpid()
        while not self._stop.wait(0.1):
            total = sum(status_kib(p, "VmRSS") for p in [me, *descendants(me)])
            self.peak_kib = max(self.peak_kib, total)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_kib / 1024


def peak_rss_mib() -> float:
    """This process's peak resident set (VmHWM; getrusage where /proc is absent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _engine(precision: str, artifact: Path, threads: int) -> tuple[Callable[[list[str]], int], str]:
    from serving.artifact import Artifact, verify
    from serving.tagger import RuntimeSettings, Tagger

    art = verify(artifact)
    note = ""
    if precision == "int8" and not art.int8_accepted:
        # The service refuses this graph (it failed the export's parity check): time it
        # anyway, through the same Tagger, by marking it accepted in memory only.
        quantization = {**art.manifest.get("quantization", {}), "accepted": True}
        art = Artifact(art.path, {**art.manifest, "quantization": quantization})
        note = "int8 rejected at export (dev accuracy); timed anyway, not what the service serves"
    tagger = Tagger(art, RuntimeSettings(precision=precision, threads=threads))

    def run(texts: list[str]) -> int:
        spans = 0
        for i in range(0, len(texts), CHUNK):
            spans += sum(len(r.entities) for r in tagger.tag(texts[i : i + CHUNK]))
        return spans

    return run, note


def _pipeline(system: str, model: Path, threads: int, tmp: Path) -> Callable[[list[str]], int]:
    from benchmarks.hf_baseline import bert_base_pipeline, export_token_classifier
    from benchmarks.hf_baseline import finetuned_pipeline as finetuned

    if system == "hf-pipeline":
        folder, stride = export_token_classifier(model, tmp / "hf-model")
        pipe = finetuned(folder, stride, threads)
    else:
        pipe = bert_base_pipeline(model, threads)

    def run(texts: list[str]) -> int:
        return sum(len(pipe(t)) for t in texts)  # one document per call: batch size 1

    return run


def _labeler(artifact: Path, tmp: Path, engine: str) -> Callable[[list[str]], int]:
    """`conflict-tagger label` as users run it, starting its workers in the timed run:
    `local`, one worker process per core with one ONNX Runtime thread each; `ray`, a local
    Ray started with this machine's cores and one single-threaded actor per core."""
    from serving.labeling.job import LabelJob, Summary
    from serving.labeling.ray_engine import label_with_ray
    from serving.labeling.run import label_file

    label: Callable[[LabelJob], Summary] = label_with_ray if engine == "ray" else label_file
    calls = itertools.count()

    def run(texts: list[str]) -> int:
        folder = tmp / f"label-{next(calls)}"
        folder.mkdir()
        source = folder / "in.jsonl"
        source.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), "utf-8")
        job = LabelJob(input=source, output=folder / "out.jsonl", model=str(artifact),
                       id_field=None, progress=False)  # fmt: skip
        return label(job).records_out

    return run


def child(args: argparse.Namespace) -> dict[str, Any]:
    texts = read_texts(Path(args.corpus), args.limit)
    with tempfile.TemporaryDirectory(prefix="offline-child-") as tmp:
        start = time.perf_counter()
        note = ""
        if args.system.startswith("engine-"):
            run, note = _engine(args.system.removeprefix("engine-"), Path(args.artifact),
                                args.threads)  # fmt: skip
        elif args.system.startswith("labeler"):
            engine = "ray" if args.system == "labeler-ray" else "local"
            run = _labeler(Path(args.artifact), Path(tmp), engine)
        else:
            run = _pipeline(args.system, Path(args.model), args.threads, Path(tmp))
        load = time.perf_counter() - start
        # The labelers start their workers (or Ray) inside the timed run, as for users.
        if not args.system.startswith("labeler"):
            run(texts[:1])  # warm-up, untimed
        elif args.system == "labeler-ray":  # what that start-up costs, apart
            begun = time.perf_counter()
            run(texts[:1])
            note = (f"a 1-document run takes {time.perf_counter() - begun:.1f} s (Ray, its "
                    "actors and the model start, then stop); that is inside the figure, as "
                    "for users")  # fmt: skip
        rss = TreeRss()
        start = time.perf_counter()
        spans = run(texts)
        seconds = time.perf_counter() - start
        tree = rss.stop()
    return {
        "system": args.system, "corpus": args.corpus, "documents": len(texts),
        "seconds": seconds, "load_seconds": load, "peak_rss_mib": max(peak_rss_mib(), tree),
        "threads": args.threads, "spans": spans, "note": note,
        "torch_imported": "torch" in sys.modules,
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--system", choices=SYSTEMS, required=True)
    parser.add_argument("--corpus", required=True, help="a JSONL file of {id, text} lines")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--artifact", default=str(DEFAULT_ARTIFACT))
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--json", help="write the figures here (else print them)")
    args = parser.parse_args(argv)
    result = json.dumps(child(args))
    if args.json:
        Path(args.json).write_text(result + "\n", encoding="utf-8")
    else:
        print(result)


if __name__ == "__main__":
    main()
