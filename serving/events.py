"""From decoded model outputs to the public `Result`: spans with their text, event types per
sentence and per document, one event record per event type found in a sentence, and how
unsure the model was of the document (its `uncertainty`).

A record's slots come from its sentence, and its perpetrator, victim, target and
instrument slots also from nearby sentences that report no event type of their own:
reports often name the weapon or the victims in the sentence after the attack, and such
spans reached no record at all. Measured on the test splits (benchmarks/served_path.py):
written roles through the records 44.1 -> 44.3; MUC-4's record gap (weapons found 57.0 F1,
in records 33.2) is unchanged, so most of it lies elsewhere."""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence

import numpy as np

from serving.decode import DEFAULT_THRESHOLD, Decoded, ScoredSpan, chosen_labels, event_labels
from serving.heads import HEAD_BY_NAME, SEGMENT_HEADS
from serving.result import (
    Entity,
    Event,
    EventScore,
    Layer,
    ModelInfo,
    Ref,
    Result,
    RoleSpan,
    Sentence,
)
from serving.schema import COARSE_OF, EntityType, EventType, Role, coarse_types

# Which spans fill which slot of an event: (layer, labels).
SLOTS: dict[str, tuple[tuple[Layer, frozenset[str]], ...]] = {
    "perpetrators": ((Layer.ROLES, frozenset({Role.PERP_IND, Role.PERP_ORG})),),
    "victims": ((Layer.ROLES, frozenset({Role.VICTIM})),),
    "targets": ((Layer.ROLES, frozenset({Role.PHYS_TARGET})),),
    "instruments": (
        (Layer.ROLES, frozenset({Role.INSTRUMENT})),
        (Layer.ENTITIES, frozenset({EntityType.WEAPON, EntityType.MIL_PLATFORM})),
    ),
    "locations": ((Layer.ENTITIES, frozenset({EntityType.LOC})),),
    "dates": ((Layer.ENTITIES, frozenset({EntityType.DATE})),),
    "actors": (
        (Layer.ROLES, frozenset({Role.SOURCE_ACTOR, Role.TARGET_ACTOR, Role.RECIPROCAL_ACTOR})),
        (Layer.ENTITIES, frozenset({EntityType.PER, EntityType.ORG, EntityType.NORP})),
    ),
}
# Slots a record also fills from nearby sentences without an event type, and how near.
BORROWED_SLOTS = frozenset({"perpetrators", "victims", "targets", "instruments"})
MAX_HOP = 2
DATASET_HEADS = tuple(h.name for h in SEGMENT_HEADS if h.name not in ("events", "coarse"))
# A document's event types count with their few worst labels: the one worst alone would let
# one fluke decide, all 18 would drown it in the easy ones. Each sentence counts with its worst.
TOP_DOUBTS = 3


def label_doubt(probs: np.ndarray, threshold: float) -> np.ndarray:
    """Doubt of sigmoid probabilities against their threshold: 1 at the threshold, falling
    linearly to 0 at 0 and at 1 (each side scaled by its own room)."""
    p = np.asarray(probs, dtype=np.float64)
    room = np.where(p < threshold, threshold, 1.0 - threshold)
    doubt = 1.0 - np.abs(p - threshold) / np.maximum(room, 1e-12)
    return np.clip(np.nan_to_num(doubt, nan=1.0), 0.0, 1.0)


def span_doubt(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Doubt of spans from their scores (mean probability of the chosen tags): 1 at a score
    of 0.5 or less, where another tag was as likely, 0 at 1. A score that could not be
    computed (NaN) counts as undecided."""
    s = np.asarray(scores, dtype=np.float64)
    return np.clip(np.nan_to_num(2.0 * (1.0 - s), nan=1.0), 0.0, 1.0)


def uncertainty(doubts: np.ndarray) -> float:
    """The mean doubt over a document's decisions (0.0 if none), 4 decimals. A mean rather
    than a maximum: with dozens of spans per article, some span is always near 0.5, and a
    maximum would rank nearly every article 1.0."""
    flat = np.ravel(doubts)
    return round(float(flat.mean()), 4) if flat.size else 0.0


def document_uncertainty(decoded: Decoded, thresholds: Mapping[str, float]) -> float:
    """Over the document's worst event labels, each sentence's worst, and every span."""
    cut = (thresholds or {}).get("events", DEFAULT_THRESHOLD)
    document = np.sort(label_doubt(decoded.document["events"], cut))[-TOP_DOUBTS:]
    sentences = [label_doubt(s["events"], cut).max() for s in decoded.sentences]
    spans = span_doubt([s.score for s in (*decoded.entities, *decoded.roles)])
    return uncertainty(np.concatenate([document, np.asarray(sentences, dtype=np.float64), spans]))


def _event_scores(
    segment: Mapping[str, np.ndarray], thresholds: Mapping[str, float]
) -> list[EventScore]:
    names, probs = HEAD_BY_NAME["events"].labels, segment["events"]
    chosen = [
        EventScore(label=EventType(n), score=round(float(probs[names.index(n)]), 4))
        for n in event_labels(segment, thresholds)
    ]
    return sorted(chosen, key=lambda e: -e.score)


def _document_events(document: list[EventScore], sentences: list[EventScore]) -> list[EventScore]:
    """The document's event types: its own head's, and every type one of its sentences
    reports (at that sentence's score). The document head pools a long article's windows
    and misses events one sentence tells (measured: the sample air-strike article got none)."""
    best: dict[EventType, float] = {}
    for e in [*document, *sentences]:
        best[e.label] = max(best.get(e.label, 0.0), e.score)
    return sorted((EventScore(label=k, score=v) for k, v in best.items()), key=lambda e: -e.score)


def _inside(spans: Sequence[ScoredSpan], starts: list[int], start: int, end: int) -> range:
    """Indices of the spans (ordered by start) that start in [start, end)."""
    return range(bisect.bisect_left(starts, start), bisect.bisect_left(starts, end))


def _refs(
    layers: Mapping[Layer, Sequence[ScoredSpan]], starts: Mapping[Layer, list[int]], text: str,
    start: int, end: int, slot: tuple[tuple[Layer, frozenset[str]], ...],
    taken: set[tuple[int, int]],
) -> list[Ref]:  # fmt: skip
    out = []
    for layer, labels in slot:
        spans = layers[layer]
        # Only the spans of this sentence: a scan of every span for every sentence and
        # event was quadratic in long texts.
        for i in _inside(spans, starts[layer], start, end):
            s = spans[i]
            # A span already given by the role layer is not repeated from the entity layer.
            if s.label in labels and s.end <= end and (s.start, s.end) not in taken:
                out.append(Ref(layer=layer, index=i, text=text[s.start : s.end]))
                taken.add((s.start, s.end))
    return out


def _lenders(has_events: Sequence[bool]) -> dict[int, list[int]]:
    """Sentence with events -> the eventless sentences whose role spans its records take:
    each goes to the nearest sentence with events within MAX_HOP (the earlier on a tie)."""
    with_events = [i for i, e in enumerate(has_events) if e]
    out: dict[int, list[int]] = {i: [] for i in with_events}
    if not with_events:
        return out
    for j, e in enumerate(has_events):
        if e:
            continue
        k = bisect.bisect_left(with_events, j)
        near = [i for i in with_events[max(0, k - 1) : k + 1] if abs(i - j) <= MAX_HOP]
        if near:
            out[min(near, key=lambda i: (abs(i - j), i))].append(j)
    return out


def build_result(
    text: str, sentences: Sequence[tuple[int, int]], decoded: Decoded,
    thresholds: Mapping[str, float], model: ModelInfo,
) -> Result:  # fmt: skip
    """The public result of one document; `sentences` are the spans `decoded` scored."""
    layers = {Layer.ENTITIES: decoded.entities, Layer.ROLES: decoded.roles}
    starts = {layer: [s.start for s in spans] for layer, spans in layers.items()}
    sentence_out, events = [], []
    for (start, end), probs in zip(sentences, decoded.sentences, strict=True):
        found = _event_scores(probs, thresholds)
        sentence_out.append(
            Sentence(start=start, end=end, event_types=found,
                     coarse_types=coarse_types({e.label for e in found}))
        )  # fmt: skip
    lenders = _lenders([bool(s.event_types) for s in sentence_out])
    for index, sentence in enumerate(sentence_out):
        read = sorted([index, *lenders.get(index, [])])
        for event in sentence.event_types:
            taken: set[tuple[int, int]] = set()
            slots = {
                name: [
                    ref
                    for i in read if i == index or name in BORROWED_SLOTS
                    for ref in _refs(layers, starts, text, *sentences[i], spec, taken)
                ]
                for name, spec in SLOTS.items()
            }  # fmt: skip
            events.append(
                Event(sentence=index, event_type=event.label, coarse_type=COARSE_OF[event.label],
                      score=event.score, **slots)
            )  # fmt: skip
    doc_events = _document_events(
        _event_scores(decoded.document, thresholds),
        [e for sentence in sentence_out for e in sentence.event_types],
    )
    return Result(
        model=model,
        windows=decoded.windows,
        entities=[
            Entity(start=s.start, end=s.end, text=text[s.start : s.end],
                   label=EntityType(s.label), score=round(s.score, 4))
            for s in decoded.entities
        ],
        roles=[
            RoleSpan(start=s.start, end=s.end, text=text[s.start : s.end], label=Role(s.label),
                     score=round(s.score, 4))
            for s in decoded.roles
        ],
        event_types=doc_events,
        coarse_types=coarse_types({e.label for e in doc_events}),
        sentences=sentence_out,
        events=events,
        dataset_labels={
            head: chosen_labels(head, decoded.document[head], thresholds) for head in DATASET_HEADS
        },
        uncertainty=document_uncertainty(decoded, thresholds),
    )  # fmt: skip
