"""IndiaPoliceEvents documents with their labelled sentences, split by document.

ConfliBERT's sentence split is sentence-random (identical sentences sit in train and
test), so model selection uses this document-level split instead: one record per
document, each sentence located in the document text by its character offsets.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from serving.schema import CoarseType, EventType, IpeLabel
from training.corpus.jsonlines import read_objects
from training.corpus.log import ConversionLog
from training.corpus.mapping import derive, event_labels, lookup
from training.corpus.record import (
    Coverage,
    LabelSet,
    Record,
    Sentence,
    Source,
    Split,
    TaskLabels,
)
from training.corpus.splits import DEFAULT_SEED, assign_splits

COLLECTIONS = {"ipe": "IndiaPoliceEvents documents and sentences, split by document (ours)"}
FRACTIONS = {Split.TRAIN: 0.7, Split.DEV: 0.15, Split.TEST: 0.15}
_DOCS = "indiapoliceevents/docs.jsonl"
_SENTS = "indiapoliceevents/sents.jsonl"


def _labels(values: list[str]) -> tuple[list[str], list[EventType], list[CoarseType]]:
    known = {m.value for m in IpeLabel}
    unknown = [v for v in values if v not in known]
    if unknown:
        raise ValueError(f"unknown label(s) {unknown}")
    on: list[str] = [m.value for m in IpeLabel if m.value in values]
    events, coarse = derive([lookup("ipe", v) for v in on])
    return on, events, coarse


def locate(text: str, sentences: list[str]) -> list[tuple[int, int] | None]:
    """Offsets of each sentence, searched in order after the previous one."""
    out: list[tuple[int, int] | None] = []
    pos = 0
    for sent in sentences:
        i = text.find(sent, pos)
        if i < 0 or not sent:
            out.append(None)
            continue
        out.append((i, i + len(sent)))
        pos = i + len(sent)
    return out


def annotated() -> list[Coverage]:
    ipe = [m.value for m in IpeLabel]
    events = [e.value for e in event_labels("ipe")]
    return [
        Coverage(label_set=LabelSet.IPE, labels=ipe),
        Coverage(label_set=LabelSet.SENTENCE_IPE, labels=ipe),
        Coverage(label_set=LabelSet.EVENTS, labels=events),
        Coverage(label_set=LabelSet.SENTENCE_EVENTS, labels=events),
    ]


def convert(data_dir: Path, log: ConversionLog) -> Iterator[Record]:
    sents: dict[int, list[dict[str, Any]]] = {}
    for _, s in read_objects(data_dir / _SENTS):
        sents.setdefault(s["doc_id"], []).append(s)
    docs = list(read_objects(data_dir / _DOCS))
    splits = assign_splits(
        [str(d["doc_id"]) for _, d in docs],
        FRACTIONS,
        seed=DEFAULT_SEED,
        strata={str(d["doc_id"]): bool(d["doc_labels"]) for _, d in docs},
    )
    coverage = annotated()
    for line_no, doc in docs:
        doc_id, text = doc["doc_id"], doc["doc_text"]
        try:
            on, events, coarse = _labels(doc["doc_labels"])
        except ValueError as err:
            log.skip("indiapoliceevents", _DOCS, f"line {line_no}", "bad_label", str(err))
            continue
        members = sorted(sents.get(doc_id, []), key=lambda s: s["sent_id"])
        sentences = []
        for s, where in zip(members, locate(text, [m["sent_text"] for m in members]), strict=True):
            ref = f"doc {doc_id} sentence {s['sent_id']}"
            if where is None:
                log.skip("indiapoliceevents", _SENTS, ref, "sentence_not_found", "not in doc_text")
                continue
            try:
                s_on, s_events, s_coarse = _labels(s["sent_labels"])
            except ValueError as err:
                log.skip("indiapoliceevents", _SENTS, ref, "bad_label", str(err))
                continue
            sentences.append(
                Sentence(
                    start=where[0],
                    end=where[1],
                    events=s_events,
                    coarse=s_coarse,
                    tasks=TaskLabels(ipe=s_on),
                )
            )
        yield Record(
            id=f"ipe/{doc_id}",
            collection="ipe",
            split=splits[str(doc_id)],
            text=text,
            source=Source(
                dataset="indiapoliceevents", file=_DOCS, upstream_id=str(doc_id), lowercased=True
            ),
            annotated=coverage,
            events=events,
            coarse=coarse,
            tasks=TaskLabels(ipe=on),
            sentences=sentences,
        )
