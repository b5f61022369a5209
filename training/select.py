"""Active learning: from a labeled output (`conflict-tagger label`), pick the documents the
model is least sure of, and unlike each other, as Label Studio tasks for analysts to correct.

The file is streamed: only the `pool * n` most uncertain records are kept (a heap), then
greedy farthest-point selection over hashed TF-IDF vectors of their texts trades
uncertainty against similarity to what is already picked, so ten copies of one wire story
do not fill the batch.
"""

from __future__ import annotations

import heapq
import json
import os
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from serving.events import label_doubt, span_doubt, uncertainty
from serving.label_studio import label_config, task
from serving.labeling import arrow
from serving.labeling.readers import INPUT_SUFFIXES, Cursor, Reader, Record, input_kind
from serving.result import Result

BUCKETS = 1 << 16  # hashed feature space: collisions are rare enough among a few thousand texts
WORD = re.compile(r"\w+")
OLD_THRESHOLD = 0.5  # results written before `uncertainty` existed do not carry thresholds


class SelectError(ValueError):
    """The labeled output cannot be selected from; the message says what to do."""


@dataclass(frozen=True)
class SelectSummary:
    read: int  # records in the labeled output
    skipped: int  # without valid tags (or not a record at all)
    candidates: int  # the most uncertain, among which diversity is sought
    selected: int
    lowest: float  # uncertainty range of the selection
    highest: float
    tasks: Path
    config: Path
    first_skip: str = ""  # why the first skipped record was skipped

    def text(self) -> str:
        why = f" (first: {self.first_skip})" if self.first_skip else ""
        return (
            f"{self.read} records read, {self.skipped} skipped{why}, {self.candidates} "
            f"candidates, {self.selected} selected with uncertainty {self.lowest:.3f} to "
            f"{self.highest:.3f}; tasks: {self.tasks}; labeling config: {self.config}"
        )


@dataclass(frozen=True, slots=True)
class Candidate:
    uncertainty: float
    where: str  # "line 12" / "row 12"
    record_id: str
    text: str
    result: Result


def tasks_path(labeled: Path) -> Path:
    """The default output beside LABELED: out.jsonl.gz -> out.tasks.json."""
    name = labeled.name
    for suffix in sorted(INPUT_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return labeled.with_name(name + ".tasks.json")


def config_path(out: Path) -> Path:
    return out.with_name(out.stem + ".label_config.xml")


def fallback_uncertainty(result: Result) -> float:
    """For results written before `uncertainty` existed: the same doubts over what they kept
    (chosen event types and spans), with every threshold taken as 0.5."""
    events = [e.score for e in result.event_types]
    events += [e.score for s in result.sentences for e in s.event_types]
    spans = [s.score for s in result.entities] + [s.score for s in result.roles]
    doubts = [label_doubt(np.asarray(events, dtype=np.float64), OLD_THRESHOLD), span_doubt(spans)]
    return uncertainty(np.concatenate(doubts))


def parse_tags(tags: Any) -> Result:
    """The Result of a record's `tags` (a JSON string, or an object); ValueError if invalid."""
    if tags is None:
        raise ValueError("no tags field")
    data = json.loads(tags) if isinstance(tags, str | bytes) else tags
    if not isinstance(data, dict):
        raise ValueError(f"tags hold a JSON {type(data).__name__}, not a result object")
    if "uncertainty" in data:
        return Result.model_validate(data)
    result = Result.model_validate({**data, "uncertainty": 0.0})
    return result.model_copy(update={"uncertainty": fallback_uncertainty(result)})


def _records(labeled: Path, text_field: str) -> Iterator[Record]:
    if not labeled.is_file():
        raise SelectError(f"{labeled} does not exist or is not a file: pass a labeled output")
    if input_kind(labeled) == "parquet":
        try:
            names = arrow.parquet().ParquetFile(labeled).schema_arrow.names
        except (OSError, ValueError) as err:
            raise SelectError(f"{labeled} is not a readable Parquet file: {err}") from None
        if text_field not in names:
            raise SelectError(_no_text(labeled, "its columns", text_field))
    return Reader(labeled, text_field).records(Cursor())


def _no_text(labeled: Path, where: str, text_field: str) -> str:
    return (
        f"{labeled}: {where} have no text field {text_field!r}, so there is nothing to correct; "
        "label the input again without --drop-text (or name the text field with --text-field)"
    )


class _Heap:
    """The `size` most uncertain candidates seen so far; on ties the earlier record stays."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: list[tuple[float, int, Candidate]] = []

    def would_keep(self, score: float, order: int) -> bool:
        return len(self.items) < self.size or (score, -order) > self.items[0][:2]

    def push(self, order: int, candidate: Candidate) -> None:
        item = (candidate.uncertainty, -order, candidate)
        if len(self.items) < self.size:
            heapq.heappush(self.items, item)
        else:
            heapq.heappushpop(self.items, item)

    def ranked(self) -> list[Candidate]:
        """Most uncertain first, then in file order."""
        return [c for _, _, c in sorted(self.items, key=lambda x: (-x[0], -x[1]))]


def select(
    labeled: Path, n: int, out: Path, text_field: str = "text", id_field: str | None = "id",
    pool: int = 5, seed: int = 0,
) -> SelectSummary:  # fmt: skip
    """Write `out` (Label Studio tasks, most uncertain first) and its labeling config beside
    it, from the `n` most uncertain yet diverse records of `labeled`. `pool * n` candidates
    are held in memory; `seed` salts the feature hashing."""
    if n < 1 or pool < 1:
        raise SelectError(f"n ({n}) and pool ({pool}) must be at least 1")
    heap, read, skipped, first_skip = _Heap(pool * n), 0, 0, ""
    for record in _records(labeled, text_field):
        read += 1
        where = f"{record.key} {record.number}"
        if record.fields is None:
            skipped += 1
            first_skip = first_skip or f"{where}: {record.problem}"
            continue
        text = record.fields.get(text_field)
        if not isinstance(text, str):
            raise SelectError(_no_text(labeled, f"{where} and maybe others", text_field))
        try:
            result = parse_tags(record.fields.get("tags"))
        except (ValueError, ValidationError) as err:  # JSONDecodeError is a ValueError
            skipped += 1
            first_skip = first_skip or f"{where}: {str(err).splitlines()[0]}"
            continue
        if heap.would_keep(result.uncertainty, read):
            raw_id = record.fields.get(id_field) if id_field else None
            record_id = str(raw_id) if raw_id is not None else where.replace(" ", "-")
            heap.push(read, Candidate(result.uncertainty, where, record_id, text, result))
    candidates = heap.ranked()
    if not candidates:
        raise SelectError(
            f"{labeled} holds no record with valid tags ({read} read, {skipped} skipped"
            f"{'; first: ' + first_skip if first_skip else ''}): pass the output of "
            "`conflict-tagger label`"
        )
    scores = np.array([c.uncertainty for c in candidates])
    picked = sorted(diverse(scores, Vectors.of([c.text for c in candidates], seed), n))
    chosen = [candidates[i] for i in picked]  # candidates are ranked: stays most uncertain first
    tasks = [_task(c) for c in chosen]
    config = config_path(out)
    _write(out, json.dumps(tasks, ensure_ascii=False, indent=1) + "\n")
    _write(config, label_config())
    return SelectSummary(
        read=read, skipped=skipped, candidates=len(candidates), selected=len(chosen),
        lowest=chosen[-1].uncertainty, highest=chosen[0].uncertainty, tasks=out, config=config,
        first_skip=first_skip,
    )  # fmt: skip


def _task(c: Candidate) -> dict[str, Any]:
    model = c.result.model
    extra = {"uncertainty": c.uncertainty, "source": c.where}
    version = f"{model.name} {model.version}"
    return task(c.record_id, c.text, c.result, version, round(1.0 - c.uncertainty, 4), extra)


def _write(path: Path, text: str) -> None:
    """Atomically: a half-written tasks file would import as garbage."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass(frozen=True)
class Vectors:
    """L2-normalised hashed TF-IDF vectors of word unigrams and bigrams, one row per text,
    stored sparse (CSR-like: `indptr`, `buckets`, `weights`; `rows`: the row of each entry)."""

    indptr: np.ndarray
    buckets: np.ndarray
    weights: np.ndarray
    rows: np.ndarray

    @classmethod
    def of(cls, texts: Sequence[str], seed: int = 0) -> Vectors:
        rows = [np.unique(_hashed(t, seed), return_counts=True) for t in texts]
        buckets = [b for b, _ in rows]
        df = np.bincount(np.concatenate([np.empty(0, np.int64), *buckets]), minlength=BUCKETS)
        idf = np.log((1.0 + len(texts)) / (1.0 + df)) + 1.0
        weights = []
        for b, counts in rows:
            w = (1.0 + np.log(counts)) * idf[b]
            norm = np.linalg.norm(w)
            weights.append(w / norm if norm > 0 else w)
        indptr = np.cumsum([0, *(len(b) for b in buckets)])
        flat_b = np.concatenate([np.empty(0, np.int64), *buckets])
        flat_w = np.concatenate([np.empty(0, np.float64), *weights])
        return cls(indptr, flat_b, flat_w, np.repeat(np.arange(len(texts)), np.diff(indptr)))

    def __len__(self) -> int:
        return len(self.indptr) - 1

    def similarity(self, row: int) -> np.ndarray:
        """Cosine similarity of every row to `row`."""
        dense = np.zeros(BUCKETS)
        a, b = self.indptr[row], self.indptr[row + 1]
        dense[self.buckets[a:b]] = self.weights[a:b]
        products = self.weights * dense[self.buckets]
        return np.bincount(self.rows, weights=products, minlength=len(self))


def _hashed(text: str, seed: int) -> np.ndarray:
    words = WORD.findall(text.lower())
    grams = [*words, *(f"{a} {b}" for a, b in pairwise(words))]
    salt = seed & 0xFFFFFFFF
    # crc32, not hash(): Python salts str hashes per process, and picks must be reproducible.
    hashed = (zlib.crc32(g.encode("utf-8"), salt) & (BUCKETS - 1) for g in grams)
    return np.fromiter(hashed, dtype=np.int64, count=len(grams))


def diverse(scores: np.ndarray, vectors: Vectors, n: int) -> list[int]:
    """Greedy farthest-point picks: first the most uncertain, then each time the one that
    maximises uncertainty * (1 - its largest similarity to those picked). Rows are expected
    ranked (most uncertain first), so argmax's first-index rule breaks ties in rank order."""
    count = min(n, len(scores))
    closest = np.zeros(len(scores))
    taken = np.zeros(len(scores), dtype=bool)
    picked: list[int] = []
    nxt = int(np.argmax(scores))
    while True:
        picked.append(nxt)
        taken[nxt] = True
        if len(picked) >= count:
            return picked
        closest = np.maximum(closest, np.clip(vectors.similarity(nxt), 0.0, 1.0))
        gain = np.where(taken, -np.inf, scores * (1.0 - closest))
        nxt = int(np.argmax(gain))
