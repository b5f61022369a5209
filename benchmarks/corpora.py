"""The two fixed corpora of the offline throughput benchmark, made from the dev splits.

`short`: single sentences (the dev records of the collections whose unit is a sentence,
topped up with sentences split from dev articles); `long`: full articles read in many
windows (MUC-4, InsightCrime and IndiaPoliceEvents dev documents longer than one window).
Both are deterministic for a seed and written as JSONL ({"id", "text"} per line), so every
system reads the same bytes; the sha256 of each file identifies the corpus in a report.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.http_load import read_texts
from serving.sentences import split_sentences
from serving.tokenizer import Tokenizer
from training.corpus.sources import project_root

SHORT_COLLECTIONS = ("cameo_class", "satp", "re3d_conflibert", "rare_events")
LONG_COLLECTIONS = ("muc4", "insightcrime", "ipe")
DEFAULT_ARTIFACT = project_root() / "runs" / "default" / "artifact"
PARAMS = "corpora.json"


@dataclass(frozen=True)
class Corpus:
    name: str
    path: Path
    docs: int
    chars: int
    tokens: int  # content tokens (no special tokens) by the artifact's tokenizer
    sha256: str

    def texts(self, limit: int | None = None) -> list[str]:
        return read_texts(self.path, limit)


def build_corpora(
    out_dir: Path, data_dir: Path | None = None, n_short: int = 2000, n_long: int = 200,
    seed: int = 0, artifact: Path | str = DEFAULT_ARTIFACT,
) -> dict[str, Corpus]:  # fmt: skip
    """Write (or reuse) `<out_dir>/short.jsonl` and `long.jsonl`; token counts and the
    window size come from `artifact` (an artifact or trained model folder: its
    tokenizer.json, and its manifest's windows where there is one)."""
    from training.corpus.sources import data_dir as default_data_dir

    out_dir = Path(out_dir)
    data = default_data_dir(data_dir)
    tokenizer_file = Path(artifact) / "tokenizer.json"
    tokenizer = Tokenizer.from_file(tokenizer_file)
    window = _window_size(Path(artifact))
    params = {
        "data_dir": str(data.resolve()), "n_short": n_short, "n_long": n_long, "seed": seed,
        "tokenizer_sha256": _sha256(tokenizer_file), "window": window,
        "version": 1,
    }  # fmt: skip
    recorded = out_dir / PARAMS
    if recorded.is_file():
        saved = json.loads(recorded.read_text(encoding="utf-8"))
        if saved.get("params") == params and all(
            (out_dir / f"{name}.jsonl").is_file()
            and _sha256(out_dir / f"{name}.jsonl") == saved["corpora"][name]["sha256"]
            for name in ("short", "long")
        ):
            return {
                name: Corpus(**(c | {"path": out_dir / f"{name}.jsonl"}))
                for name, c in saved["corpora"].items()
            }
    short, long = _select(data, tokenizer, window, n_short, n_long, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    corpora = {
        name: _write(name, out_dir / f"{name}.jsonl", docs, tokenizer)
        for name, docs in (("short", short), ("long", long))
    }
    saved_corpora = {n: {**asdict(c), "path": c.path.name} for n, c in corpora.items()}
    recorded.write_text(
        json.dumps({"params": params, "corpora": saved_corpora}, indent=2) + "\n", encoding="utf-8"
    )
    return corpora


def _window_size(folder: Path) -> int:
    manifest = folder / "manifest.json"
    if manifest.is_file():
        return int(json.loads(manifest.read_text(encoding="utf-8"))["windows"]["size"])
    training = folder / "training.json"  # a trained model folder
    if training.is_file():
        meta = json.loads(training.read_text(encoding="utf-8"))
        return int(meta["config"]["windows"]["size"])
    return 254


def _select(
    data: Path, tokenizer: Tokenizer, window: int, n_short: int, n_long: int, seed: int
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    from training.corpus.build import convert_all
    from training.corpus.record import Split

    records = [
        r
        for r in convert_all(data, only=[*SHORT_COLLECTIONS, *LONG_COLLECTIONS]).records
        if r.split is Split.DEV
    ]
    records.sort(key=lambda r: r.id)
    rng = random.Random(seed)

    # Short: one sentence each (a dataset's "sentence" sometimes holds two: skipped).
    seen: set[str] = set()
    sentences: list[tuple[str, str]] = []
    for r in records:
        if r.collection in SHORT_COLLECTIONS and _one_sentence(r.text) and r.text not in seen:
            seen.add(r.text)
            sentences.append((r.id, r.text))
    rng.shuffle(sentences)
    if len(sentences) < n_short:  # top up with sentences of the dev articles
        extra = []
        for r in records:
            if r.collection not in LONG_COLLECTIONS:
                continue
            for i, (a, b) in enumerate(split_sentences(r.text)):
                text = r.text[a:b]
                if text not in seen and _one_sentence(text) and len(text.split()) >= 3:
                    seen.add(text)
                    extra.append((f"{r.id}#s{i}", text))
        rng.shuffle(extra)
        sentences += extra
    short = sentences[:n_short]

    # Long: whole articles longer than one window, shuffled.
    articles = [(r.id, r.text) for r in records if r.collection in LONG_COLLECTIONS]
    lengths = [len(e.ids) for e in tokenizer.encode_batch([t for _, t in articles])]
    multi = [a for a, n in zip(articles, lengths, strict=True) if n > window]
    rng.shuffle(multi)
    long = multi[:n_long]
    if len(long) < n_long:
        # Too few long articles (small datasets): join consecutive shorter ones of a
        # collection, blank-line separated, until each exceeds a window.
        rest = [(a, n) for a, n in zip(articles, lengths, strict=True) if n <= window]
        ids: list[str] = []
        parts: list[str] = []
        total = 0
        for (doc_id, text), n in rest:
            ids.append(doc_id)
            parts.append(text)
            total += n
            if total > window:
                long.append(("+".join(ids), "\n\n".join(parts)))
                ids, parts, total = [], [], 0
                if len(long) >= n_long:
                    break
    return short, long


def _one_sentence(text: str) -> bool:
    return len(split_sentences(text)) == 1


def _write(name: str, path: Path, docs: list[tuple[str, str]], tokenizer: Tokenizer) -> Corpus:
    if not docs:
        raise ValueError(
            f"the {name} corpus would be empty: the datasets hold no dev records for it"
        )
    lines = "".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in docs)
    path.write_text(lines, encoding="utf-8")
    texts = [t for _, t in docs]
    tokens = sum(len(e.ids) for e in tokenizer.encode_batch(texts))
    return Corpus(name, path, len(docs), sum(map(len, texts)), tokens, _sha256(path))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def corpus_info(corpus: Corpus) -> dict[str, Any]:
    return {**asdict(corpus), "path": str(corpus.path)}
