"""Teachers fill the partial labels: soft token targets from a trained model.

Most training texts carry one dataset's labels: CAMEO, SATP, IPE and InsightCrime mark
no entities, MUC-4 marks role fillers but no names, re3d no roles. Without more, the
loss learns nothing about names in those texts, and the long unannotated documents
teach that long windows hold none. A teacher (a trained model folder) reads every
training text sentence by sentence, as it reads best (benchmarks/whole_documents.md:
re3d F1 70.7 by sentence against 62.2 whole), and its per-token tag distributions
become the student's targets wherever the record's own labels say nothing or leave a
choice (training.model.teacher_loss). The student reads the same tokens in its long
windows, so it learns to find in whole documents what the teacher finds in sentences.

Teacher outputs are a cached data step, under `teacher.cache`: one folder per
fingerprint of the teacher's files, the heads and this module's version, and in it the
targets keyed by each record's id, text and tokens. A run that adds or changes texts
reads only those with the teacher (a part file more), not all of them again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from serving.engine import Engine
from serving.heads import TOKEN_HEADS
from serving.sentences import split_sentences
from serving.tokenizer import Encoded
from training.benchmark import CACHE as BENCHMARK_CACHE
from training.corpus.record import Record

VERSION = 2  # bump when what a cache file holds changes
CHUNK = 512  # sentences per engine call: keeps memory flat and the log moving

# record id -> head -> float16 [n_tokens, n_tags]; a row of zeros: no teacher target
SoftTargets = dict[str, dict[str, np.ndarray]]


def fingerprint(teacher_dir: Path, heads: Sequence[str]) -> str:
    """sha256 over the teacher folder's files and the heads: names a cache folder. The
    benchmark's score cache, written into the folder when the model is scored, is no
    part of the teacher."""
    h = hashlib.sha256(f"teacher v{VERSION} {sorted(heads)}".encode())
    files = (p for p in teacher_dir.rglob("*") if p.is_file() and p.name != BENCHMARK_CACHE)
    for f in sorted(files):
        h.update(f.relative_to(teacher_dir).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def record_key(record: Record, encoding: Encoded) -> str:
    """A record's id, text and the student's tokens (targets are stored per token)."""
    h = hashlib.sha256(json.dumps([record.id, record.text]).encode())
    h.update(encoding.offsets.tobytes())
    return h.hexdigest()[:32]


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(-1, keepdims=True))
    out: np.ndarray = z / z.sum(-1, keepdims=True)
    return out


def compute(
    engine: Engine, records: Sequence[Record], encodings: dict[str, Encoded],
    heads: Sequence[str], log: Callable[[str], None] = print,
) -> SoftTargets:  # fmt: skip
    """Every record's soft targets, read by `engine` one sentence at a time.

    A sentence token gives its distribution to the record token with the same character
    span; record tokens no sentence token matches (none in practice: the same tokenizer
    splits at the same places) get no target."""
    jobs: list[tuple[int, int]] = []  # (record index, sentence start)
    texts: list[str] = []
    for i, r in enumerate(records):
        for start, end in split_sentences(r.text):
            jobs.append((i, start))
            texts.append(r.text[start:end])
    out: SoftTargets = {}
    for r in records:
        n = len(encodings[r.id].ids)
        out[r.id] = {h: np.zeros((n, len(TOKEN_HEADS[h])), np.float16) for h in heads}
    where = {
        r.id: {(int(s), int(e)): k for k, (s, e) in enumerate(encodings[r.id].offsets.tolist())}
        for r in records
    }
    tick = time.perf_counter()
    for c in range(0, len(texts), CHUNK):
        results = engine.token_logits(texts[c : c + CHUNK])
        for (i, start), (enc, logits) in zip(jobs[c : c + CHUNK], results, strict=True):
            rid = records[i].id
            rows = [where[rid].get((int(s) + start, int(e) + start), -1) for s, e in enc.offsets]
            keep = np.array([k >= 0 for k in rows], dtype=bool)
            if not keep.any():
                continue
            target = np.array(rows)[keep]
            for h in heads:
                out[rid][h][target] = _softmax(logits[h][keep]).astype(np.float16)
        done = min(c + CHUNK, len(texts))
        if done == len(texts) or (c // CHUNK) % 20 == 0:
            rate = done / max(time.perf_counter() - tick, 1e-9)
            log(f"teacher: {done}/{len(texts)} sentences ({rate:.0f}/s)")
    return out


def save(path: Path, targets: SoftTargets) -> None:
    """One .npz: the keys, each record's first row, and per head all rows stacked."""
    ids = list(targets)
    heads = sorted(next(iter(targets.values()))) if targets else []
    lengths = [len(next(iter(targets[i].values()))) if heads else 0 for i in ids]
    arrays = {h: np.concatenate([targets[i][h] for i in ids]) for h in heads}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, ids=np.array(ids), starts=np.cumsum([0, *lengths]), **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)


def load(path: Path) -> SoftTargets:
    with np.load(path) as data:
        ids = [str(i) for i in data["ids"]]
        starts = data["starts"]
        heads = [k for k in data.files if k not in ("ids", "starts")]
        arrays = {h: data[h] for h in heads}
    return {
        rid: {h: arrays[h][starts[k] : starts[k + 1]] for h in heads} for k, rid in enumerate(ids)
    }


def soft_targets(
    teacher_dir: Path, records: Sequence[Record], encodings: dict[str, Encoded],
    heads: Sequence[str], cache: Path, make_engine: Callable[[Path], Engine],
    log: Callable[[str], None] = print,
) -> SoftTargets:  # fmt: skip
    """The soft targets for these records; the teacher reads only those not cached yet."""
    unknown = sorted(set(heads) - set(TOKEN_HEADS))
    if unknown:
        raise ValueError(f"teacher.heads names {unknown}; token heads are {list(TOKEN_HEADS)}")
    return cached(
        teacher_dir, records, encodings, heads, cache,
        lambda missing: compute(make_engine(teacher_dir), missing, encodings, heads, log), log,
    )  # fmt: skip


def cached(
    teacher_dir: Path, records: Sequence[Record], encodings: dict[str, Encoded],
    heads: Sequence[str], cache: Path, read: Callable[[Sequence[Record]], SoftTargets],
    log: Callable[[str], None] = print,
) -> SoftTargets:  # fmt: skip
    """Targets per record from the cache folder of this teacher and heads; `read` gives
    those of the records not cached yet, which are then stored as one part file more."""
    unique = list({r.id: r for r in records}.values())
    keys = {r.id: record_key(r, encodings[r.id]) for r in unique}
    folder = cache / f"teacher-{fingerprint(teacher_dir, heads)[:20]}"
    found: SoftTargets = {}
    for part in sorted(folder.glob("part-*.npz")):
        found.update(load(part))
    missing = [r for r in unique if keys[r.id] not in found]
    log(f"teacher: {len(unique) - len(missing)} of {len(unique)} training texts cached in {folder}")
    if missing:
        log(f"teacher: {teacher_dir} reads {len(missing)} training texts")
        by_key = {keys[rid]: rows for rid, rows in read(missing).items()}
        name = hashlib.sha256("".join(sorted(by_key)).encode()).hexdigest()[:16]
        save(folder / f"part-{name}.npz", by_key)
        found.update(by_key)
    return {r.id: found[keys[r.id]] for r in unique}
