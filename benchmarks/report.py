"""benchmarks/performance.md from one run's figures: the targets first, then every table."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from benchmarks.http_load import read_texts
from benchmarks.offline import Row

if TYPE_CHECKING:
    from benchmarks.run import Results

SERVED_NOTE = "int8 graph marked rejected at export: timed, not served"


def window_overhead(corpus_path: Path, artifact: Path) -> float:
    """Tokens the encoder reads over content tokens on a corpus: the windows' overlap."""
    from serving.tokenizer import Tokenizer
    from serving.windows import make_windows

    manifest = json.loads((artifact / "manifest.json").read_text(encoding="utf-8"))
    size, stride = manifest["windows"]["size"], manifest["windows"]["stride"]
    tokenizer = Tokenizer.from_file(artifact / "tokenizer.json")
    texts = read_texts(corpus_path)
    content = read = 0
    for enc in tokenizer.encode_batch(texts):
        n = len(enc.ids)
        content += n
        read += sum(w.end - w.start for w in make_windows(n, size, stride))
    return read / max(content, 1)


def _row(rows: Sequence[Row], system: str, corpus: str) -> Row | None:
    return next((r for r in rows if r.system == system and r.corpus == corpus), None)


def _http(
    rows: Sequence[dict[str, Any]], route: str, corpus: str, c: int, server: str | None = None
) -> dict[str, Any]:
    """The row of `server` (default: the first one run)."""
    match = (server or (rows[0].get("server") if rows else None), route, corpus, c)
    keys = ("server", "route", "corpus", "concurrency")
    return next((r for r in rows if tuple(r.get(k) for k in keys) == match), {})


def same_documents_ratio(ours: Row, other: Row) -> float:
    """How many times more documents/s `ours` tags than `other` on the same documents.
    The slow systems time a slice of the corpus, whose documents are not of the corpus's
    mean length: per token, the two are compared on equal work."""
    return ours.tokens_per_s / other.tokens_per_s


def _mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


def targets(results: Results, overhead: float, served: str) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) rows."""
    off, http, ceiling = results.offline, results.http, results.ceiling
    out = []
    int8 = _row(off, "engine-int8", "short")
    if int8:
        frac = ceiling.fraction(int8.tokens_per_s, "int8")
        out.append(("offline int8 engine, short texts: >= 85% of the int8 ceiling's tokens/s",
                    f"{int8.tokens_per_s:,.0f} of {ceiling.tokens_per_s_limit_int8:,.0f} tokens/s "
                    f"= {frac:.0%}", _mark(frac >= 0.85)))  # fmt: skip
    engines = ["int8", served] if served != "int8" else ["int8"]
    for corpus in ("short", "long"):
        for base, need in (("hf-pipeline", 5), ("hf-bert-base", 20)):
            for precision in engines:
                ours, other = _row(off, f"engine-{precision}", corpus), _row(off, base, corpus)
                if ours and other:
                    ratio = same_documents_ratio(ours, other)
                    what = "int8 engine" if precision == "int8" else f"served engine ({served})"
                    out.append((f"{what} >= {need}x {base}, {corpus}, documents/s",
                                f"{ratio:.1f}x", _mark(ratio >= need)))  # fmt: skip
    one = _http(http, "/tag", "short", 1)
    if one.get("latency_ms"):
        p50 = one["latency_ms"]["p50"]
        out.append(("HTTP p50 <= 15 ms, one short sentence, concurrency 1",
                    f"{p50:.1f} ms", _mark(p50 <= 15)))  # fmt: skip
    offline_short = _row(off, f"engine-{served}", "short")
    servers = list(dict.fromkeys(r.get("server") for r in http))
    for server in servers:
        for route in ("/tag", "/tag_adaptive"):
            row = _http(http, route, "short", 32, server)
            if not row.get("latency_ms") or offline_short is None:
                continue
            docs = row["throughput"]["documents_per_s"]
            share = docs / offline_short.docs_per_s
            lat = row["latency_ms"]
            tail = lat["p99"] / lat["p50"]
            ok = share >= 0.8 and row["errors"] == 0 and tail < 10
            where = f"HTTP {route}" + (f" ({server})" if len(servers) > 1 else "")
            out.append((f"{where}, concurrency 32: >= 80% of offline docs/s, 0 errors, "
                        "p99 < 10x p50",
                        f"{share:.0%} ({docs:.1f} of {offline_short.docs_per_s:.1f} docs/s), "
                        f"{row['errors']} errors, p99 {tail:.1f}x p50", _mark(ok)))  # fmt: skip
    short, long = _row(off, f"engine-{served}", "short"), _row(off, f"engine-{served}", "long")
    if short and long:
        # Per content token, long may cost `overhead` times short (the windows' overlap).
        cost = short.tokens_per_s / long.tokens_per_s
        out.append(("long documents cost per token <= short's x window overlap",
                    f"{cost:.2f}x short's per token; overlap {overhead:.2f}x",
                    _mark(cost <= overhead)))  # fmt: skip
    return out


def _int8_accuracy(accuracy_md: str) -> tuple[str, str, str] | None:
    rows = re.findall(r"^\| (\w+) \| [^|]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| ([+-][\d.]+) \|",
                      accuracy_md, flags=re.M)  # fmt: skip
    if not rows:
        return None
    off = [(name, float(d)) for name, d in rows if abs(float(d)) > 0.5]
    measured = f"{len(rows) - len(off)} of {len(rows)} dev sets within 0.5" + (
        f" (outside: {', '.join(f'{n} {d:+.2f}' for n, d in off)})" if off else ""
    )
    return ("int8 F1 within 0.5 points of torch on every dev set (benchmark-export)",
            measured, _mark(not off))  # fmt: skip


def _offline_table(results: Results, served: str) -> list[str]:
    c = results.ceiling
    engine = {r.corpus: r for r in results.offline if r.system == f"engine-{served}"}
    lines = [
        "| system | corpus | docs timed | docs/s (median, min-max) | tokens/s | of ceiling "
        "| served engine is | peak RSS MiB | load s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results.offline:
        precision: Literal["int8", "fp32"] = "int8" if r.system == "engine-int8" else "fp32"
        ours = engine.get(r.corpus)
        times = "-" if ours is None or r is ours else f"{same_documents_ratio(ours, r):.1f}x"
        lines.append(
            f"| {r.system} | {r.corpus} | {r.documents} | {r.docs_per_s:,.2f} "
            f"({r.docs_per_s_min:,.2f}-{r.docs_per_s_max:,.2f}) | {r.tokens_per_s:,.0f} "
            f"| {c.fraction(r.tokens_per_s, precision):.0%} ({precision}) | {times} "
            f"| {r.peak_rss_mib:,.0f} | {r.load_seconds:.1f} |"
        )
    return lines


def _http_table(rows: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "| server | route | corpus | concurrency | requests | errors | docs/s | p50 ms | p95 ms "
        "| p99 ms | server RSS MiB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lat = r.get("latency_ms") or {}
        rss = (r.get("server_rss_bytes") or {}).get("max", 0) / 2**20

        def ms(key: str, lat: dict[str, Any] = lat) -> str:
            return "-" if lat.get(key) is None else f"{lat[key]:,.1f}"

        lines.append(
            f"| {r.get('server', '-')} | {r['route']} | {r['corpus']} | {r['concurrency']} "
            f"| {r['requests']} "
            f"| {r['errors']} | {r['throughput']['documents_per_s']:,.2f} | {ms('p50')} "
            f"| {ms('p95')} | {ms('p99')} | {rss:,.0f} |"
        )
    return lines


def render(results: Results, accuracy_md: str = "", notes: str = "") -> str:
    s = results.settings
    manifest = json.loads((s.artifact / "manifest.json").read_text(encoding="utf-8"))
    served = "int8" if manifest.get("quantization", {}).get("accepted") else "fp32"
    overhead = window_overhead(results.corpora["long"].path, s.artifact)
    rows = targets(results, overhead, served)
    acc = _int8_accuracy(accuracy_md)
    if acc:
        rows.append(acc)
    m, cpu = results.machine, results.ceiling.machine
    lines = [
        "# Performance",
        "",
        f"Made by `{s.command}` on {time.strftime('%Y-%m-%d')} in "
        f"{results.seconds / 60:.0f} min: artifact `{manifest['version']}` (serving runs "
        f"{served}). Every figure below comes from this one run on this one machine.",
        "",
        f"Machine: {cpu.cpu}, {cpu.available_cpus} of {cpu.logical_cpus} CPUs, "
        f"{m.get('memory_gib', '?')} GiB; ISA {', '.join(cpu.isa)}; Python {m['python']}, "
        f"onnxruntime {m['onnxruntime']}, torch {m.get('torch', '-')}, transformers "
        f"{m.get('transformers', '-')}. Threads: {s.threads} for every system. Offline "
        f"figures: median of {1 if s.quick else s.runs} fresh processes each.",
        "",
        notes.strip()
        or "What these figures mean, what changed to get them and what is left: "
        "[performance_notes.md](performance_notes.md).",
        "",
        "## Targets",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
        *(f"| {t} | {v} | {ok} |" for t, v, ok in rows),
        "",
        "## Ceiling: GEMMs through ONNX Runtime at the encoder's shapes",
        "",
        results.ceiling.markdown(),
        "## Corpora",
        "",
        "| corpus | documents | content tokens | characters | sha256 |",
        "|---|---:|---:|---:|---|",
        *(
            f"| {c.name} | {c.docs:,} | {c.tokens:,} | {c.chars:,} | `{c.sha256[:12]}` |"
            for c in results.corpora.values()
        ),
        "",
        f"Dev texts: short = single sentences, long = whole articles longer than one window "
        f"(the encoder reads {overhead:.2f}x their content tokens, windows overlapping).",
        "",
        "## Offline throughput",
        "",
        "Documents tagged end to end (tokenize, windows, ONNX Runtime, decode, results) in one "
        "process per run; the `transformers` pipelines (token classification, PyTorch eager, "
        "one document per call, `stride` for long texts) run the same fine-tuned weights "
        "(`hf-pipeline`) and a random BERT-base-sized encoder (`hf-bert-base`), each on a "
        "slice of the corpus. `of ceiling`: tokens/s over the limit of that graph's "
        "precision above. `served engine is`: how many times faster the served engine tags "
        "the same documents, from tokens/s, since a slice's documents are not of the "
        "corpus's mean length.",
        "",
        *_offline_table(results, served),
        "",
        *(f"- {r.system}: {r.note}" for r in results.offline if r.note and r.corpus == "short"),
        "",
        "## Batch budget",
        "",
        "Padded tokens per ONNX Runtime call (`CONFLICT_TAGGER_BATCH_TOKENS`), engines on the "
        "first 1,000 short texts, one run each. The default was 8192 before this benchmark; "
        "it is now the fastest here.",
        "",
        "| batch tokens | engine | docs/s | tokens/s |",
        "|---:|---|---:|---:|",
        *(
            f"| {budget} | {r.system} | {r.docs_per_s:,.1f} | {r.tokens_per_s:,.0f} |"
            for budget, r in results.sweep
        ),
        "",
        "## HTTP",
        "",
        "A real `bentoml serve` of the artifact on localhost (the targets use the first "
        "server layout below); a closed-loop load generator in another process (aiohttp, "
        f"one keep-alive connection per user), at most {s.http_requests} requests or "
        f"{s.http_seconds:.0f} s per row after warm-up.",
        "",
        *_http_table(results.http),
        "",
    ]
    section = re.search(r"<!-- export:start -->(.*?)<!-- export:end -->", accuracy_md, re.S)
    if section:
        lines += [
            "## Accuracy alongside (from benchmarks/accuracy.md)",
            "",
            section.group(1).strip().replace("## Exported artifact", "### Exported artifact"),
            "",
        ]
    return "\n".join(line for line in lines) + "\n"
