"""Specialists teach their own collection's document labels.

A single-dataset run can beat the multi-task model on its own dataset (IPE sentences,
dev example F1: 57.1 against 53.2 for the sixth release stage). Its document-level
probabilities, read as serving reads a text (Engine.run), are mixed into the gold
targets of that collection's records: target = (1 - w) * gold + w * specialist, on the
labels the record is annotated for. This is knowledge distillation from single-task
teachers into the multi-task student (Clark et al. 2019, "BAM! Born-Again Multi-Task
Networks"): the specialist's graded probabilities carry what a 0/1 label cannot, such
as how close a sentence came to a class. Targets are cached like the token teacher's
(training/teacher.py), keyed by the specialist's files and each record.

Rehearsal reads one model's document probabilities the same way, for every training
record, and lets them teach chosen dataset heads on the documents that have no gold for
those heads (learning without forgetting, Li and Hoiem 2017): a stage from a release is
held to what the release said there. It did not stop the stages' losses on dev
(benchmarks/accuracy_notes.md, stage s).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from serving.engine import Engine
from serving.heads import SEGMENT_HEADS
from serving.tokenizer import Encoded
from training import teacher
from training.config import RehearsalConfig, SpecialistsConfig
from training.corpus.record import Record
from training.features import Features

HEADS = tuple(h.name for h in SEGMENT_HEADS)
CHUNK = 512  # texts per engine call


def compute(
    engine: Engine, records: Sequence[Record], log: Callable[[str], None] = print
) -> teacher.SoftTargets:
    """Every record's document probabilities per segment head, as rows of shape [1, K]."""
    out: teacher.SoftTargets = {}
    for c in range(0, len(records), CHUNK):
        part = records[c : c + CHUNK]
        for r, decoded in zip(part, engine.run([r.text for r in part]), strict=True):
            out[r.id] = {h: decoded.document[h][None].astype(np.float16) for h in HEADS}
        log(f"specialist: {min(c + CHUNK, len(records))}/{len(records)} texts")
    return out


def document_targets(
    config: SpecialistsConfig, train: dict[str, list[Record]], encodings: dict[str, Encoded],
    make_engine: Callable[[Path], Engine], log: Callable[[str], None] = print,
) -> teacher.SoftTargets:  # fmt: skip
    """The specialists' document probabilities for the records of their collections."""
    out: teacher.SoftTargets = {}
    for collection, model in config.models.items():
        folder = Path(model)

        def read(missing: Sequence[Record], folder: Path = folder) -> teacher.SoftTargets:
            return compute(make_engine(folder), missing, log)

        heads = [f"document {h}" for h in HEADS]
        out |= teacher.cached(folder, train[collection], encodings, heads, Path(config.cache),
                              read, log)  # fmt: skip
    return out


def rehearsal_targets(
    config: RehearsalConfig, records: Sequence[Record], encodings: dict[str, Encoded],
    make_engine: Callable[[Path], Engine], log: Callable[[str], None] = print,
) -> teacher.SoftTargets:  # fmt: skip
    """The rehearsed model's document probabilities for every training record."""
    folder = Path(config.model)

    def read(missing: Sequence[Record]) -> teacher.SoftTargets:
        return compute(make_engine(folder), missing, log)

    heads = [f"document {h}" for h in HEADS]
    return teacher.cached(folder, records, encodings, heads, Path(config.cache), read, log)


def rehearse(
    feats: Features, probs: dict[str, np.ndarray] | None, heads: Sequence[str]
) -> Features:
    """The record's document groups learn `heads` from `probs` where the record has no
    gold for them (a head it is annotated for keeps its gold alone); in place."""
    if not probs:
        return feats
    for group in feats.groups:
        if group.document:
            group.rehearsed = {
                h: probs[h][0].astype(np.float32) for h in heads if h not in group.targets
            }  # fmt: skip
    return feats


def mix(feats: Features, probs: dict[str, np.ndarray] | None, weight: float) -> Features:
    """The record's document targets moved `weight` of the way to the specialist's
    probabilities, on the labels its dataset annotates (the mask); in place."""
    if not probs:
        return feats
    for group in feats.groups:
        if not group.document:
            continue
        for head, (values, mask) in list(group.targets.items()):
            p = probs[head][0].astype(np.float32)
            group.targets[head] = (np.where(mask, (1 - weight) * values + weight * p, values), mask)
    return feats
