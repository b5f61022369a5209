"""One command, every row of benchmarks/performance.md measured in the same run.

`python -m benchmarks.run --artifact runs/default/artifact --model runs/default/model`
(or `conflict-tagger benchmark-performance`): the ceiling, the two corpora, offline
throughput of our engine against the `transformers` pipelines, the HTTP service under load,
then the report with every target checked. Absolute times on shared machines are noisy:
each offline figure is the median of `runs` fresh processes, and the ratios, all taken in
this one run, are what the targets are about.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.ceiling import Ceiling, EncoderShape, measure_ceiling
from benchmarks.corpora import Corpus, build_corpora
from benchmarks.offline import SYSTEMS, Row, measure
from benchmarks.report import render
from benchmarks.serve import http_benchmark

# Documents timed per run: the pipelines are 10-100x slower, so they get a slice.
LIMITS = {
    "full": {"hf-pipeline": {"short": 200, "long": 10}, "hf-bert-base": {"short": 50, "long": 4}},
    "quick": {
        "engine-int8": {"short": 200, "long": 20}, "engine-fp32": {"short": 200, "long": 20},
        "labeler": {"short": 200, "long": 20}, "labeler-ray": {"short": 200, "long": 20},
        "hf-pipeline": {"short": 20, "long": 2}, "hf-bert-base": {"short": 5, "long": 1},
    },
}  # fmt: skip


@dataclass
class Settings:
    artifact: Path
    model: Path
    out: Path = Path("benchmarks/performance.md")
    work: Path = Path("data/work/bench")
    data_dir: Path | None = None
    threads: int = 2
    runs: int = 3
    quick: bool = False
    concurrencies: tuple[int, ...] = (1, 8, 32, 64)
    routes: tuple[str, ...] = ("/tag", "/tag_adaptive")
    http_seconds: float = 15.0
    http_requests: int = 3000
    command: str = ""


@dataclass
class Results:
    settings: Settings
    machine: dict[str, Any]
    ceiling: Ceiling
    corpora: dict[str, Corpus]
    offline: list[Row] = field(default_factory=list)
    http: list[dict[str, Any]] = field(default_factory=list)
    sweep: list[tuple[int, Row]] = field(default_factory=list)  # (batch tokens, row)
    seconds: float = 0.0


def machine() -> dict[str, Any]:
    import onnxruntime

    out = {"python": platform.python_version(), "onnxruntime": onnxruntime.__version__,
           "platform": platform.platform()}  # fmt: skip
    try:
        import torch
        import transformers

        out |= {"torch": torch.__version__, "transformers": transformers.__version__}
    except ImportError:
        pass
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        total = next(line for line in meminfo.read_text().splitlines() if "MemTotal" in line)
        out["memory_gib"] = round(int(total.split()[1]) / 2**20, 1)
    return out


def mean_padded_tokens(corpus: Corpus, window: int) -> int:
    """The sequence length the encoder mostly sees on a corpus (for attention's FLOPs)."""
    per_doc = corpus.tokens / max(corpus.docs, 1)
    return int(min(window + 2, per_doc + 2))


SWEEP = (256, 512, 1024, 2048, 8192)  # 8192: the default before this benchmark


def sweep(settings: Settings, corpus: Corpus) -> list[tuple[int, Row]]:
    """The engines on short texts at several batch budgets (CONFLICT_TAGGER_BATCH_TOKENS)."""
    out = []
    budgets = (512, 8192) if settings.quick else SWEEP
    for budget in budgets:
        os.environ["CONFLICT_TAGGER_BATCH_TOKENS"] = str(budget)
        try:
            for system in ("engine-int8", "engine-fp32"):
                row = measure(system, corpus, runs=1, threads=settings.threads,
                              limit=200 if settings.quick else 1000,
                              artifact=settings.artifact)  # fmt: skip
                out.append((budget, row))
        finally:
            del os.environ["CONFLICT_TAGGER_BATCH_TOKENS"]
    return out


def run(settings: Settings, log: Any = print) -> Results:
    started = time.perf_counter()
    shape = EncoderShape.from_artifact(settings.artifact)
    log("corpora ...")
    corpora = build_corpora(settings.work, settings.data_dir, artifact=settings.artifact)
    window = json.loads((settings.artifact / "manifest.json").read_text())["windows"]["size"]
    seq = mean_padded_tokens(corpora["short"], window)
    log(f"ceiling (sequence length {seq}) ...")
    ceiling = measure_ceiling(shape, tokens=2048, seq_len=seq, threads=settings.threads,
                              repeats=10 if settings.quick else 50)  # fmt: skip
    results = Results(settings, machine(), ceiling, corpora)
    limits = LIMITS["quick" if settings.quick else "full"]
    for name in ("short", "long"):
        for system in SYSTEMS:
            limit = limits.get(system, {}).get(name)
            log(f"offline {system} on {name} ({limit or corpora[name].docs} documents) ...")
            row = measure(system, corpora[name], runs=1 if settings.quick else settings.runs,
                          threads=settings.threads, limit=limit, artifact=settings.artifact,
                          model=settings.model)  # fmt: skip
            results.offline.append(row)
            log(f"  {row.docs_per_s:.2f} docs/s, {row.tokens_per_s:.0f} tokens/s")
    log("batch-size sweep ...")
    results.sweep = sweep(settings, corpora["short"])
    log("HTTP ...")
    max_requests = 200 if settings.quick else settings.http_requests
    max_seconds = 3.0 if settings.quick else settings.http_seconds
    default = f"1 worker x {settings.threads} threads"
    rows = http_benchmark(
        settings.artifact, {name: c.path for name, c in corpora.items()},
        concurrencies=settings.concurrencies, routes=settings.routes,
        env={"CONFLICT_TAGGER_THREADS": str(settings.threads)}, max_requests=max_requests,
        max_seconds=max_seconds,
    )  # fmt: skip
    results.http = [{"server": default, **r} for r in rows]
    if settings.threads > 1:  # the other way to use the cores: a process per core
        log("HTTP, one worker per core ...")
        env = {"CONFLICT_TAGGER_WORKERS": str(settings.threads), "CONFLICT_TAGGER_THREADS": "1"}
        short = {"short": corpora["short"].path}
        rows = http_benchmark(
            settings.artifact, short, concurrencies=(1, 32), routes=("/tag",), env=env,
            max_requests=max_requests, max_seconds=max_seconds,
        )  # fmt: skip
        results.http += [{"server": f"{settings.threads} workers x 1 thread", **r} for r in rows]
    results.seconds = time.perf_counter() - started
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--artifact", type=Path, default=Path("runs/default/artifact"))
    parser.add_argument("--model", type=Path, default=Path("runs/default/model"),
                        help="the trained model folder the artifact came from (for the "
                        "transformers pipeline baseline)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("benchmarks/performance.md"))
    parser.add_argument("--json", type=Path, default=None, help="also write every figure here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a smoke run: small slices, 1 run")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--render-only", action="store_true",
                        help="write the report again from the last run's figures (notes, "
                        "report changes) without measuring")  # fmt: skip
    args = parser.parse_args(argv)
    settings = Settings(
        artifact=args.artifact, model=args.model, out=args.out, data_dir=args.data_dir,
        threads=args.threads, runs=args.runs, quick=args.quick,
        command="python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:]),
    )  # fmt: skip
    saved = settings.work / "results.pickle"
    if args.render_only:
        results = pickle.loads(saved.read_bytes())
    else:
        results = run(settings, log=lambda m: print(m, file=sys.stderr, flush=True))
        saved.write_bytes(pickle.dumps(results))
    accuracy = Path("benchmarks/accuracy.md")
    report = render(results, accuracy.read_text(encoding="utf-8") if accuracy.is_file() else "")
    settings.out.parent.mkdir(parents=True, exist_ok=True)
    settings.out.write_text(report, encoding="utf-8")
    if args.json:
        blob = {"settings": {k: str(v) for k, v in asdict(settings).items()},
                "machine": results.machine, "ceiling": results.ceiling.as_json(),
                "offline": [asdict(r) for r in results.offline], "http": results.http}  # fmt: skip
        args.json.write_text(json.dumps(blob, indent=2) + "\n", encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
