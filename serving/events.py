"""From decoded model outputs to the public `Result`: spans with their text, event types per
sentence and per document, and one event record per event type found in a sentence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from serving.decode import Decoded, ScoredSpan, chosen_labels
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
DATASET_HEADS = tuple(h.name for h in SEGMENT_HEADS if h.name not in ("events", "coarse"))


def _event_scores(probs: np.ndarray, thresholds: Mapping[str, float]) -> list[EventScore]:
    names = HEAD_BY_NAME["events"].labels
    chosen = [
        EventScore(label=EventType(n), score=round(float(probs[names.index(n)]), 4))
        for n in chosen_labels("events", probs, thresholds)
    ]
    return sorted(chosen, key=lambda e: -e.score)


def _refs(
    layers: Mapping[Layer, Sequence[ScoredSpan]], text: str, start: int, end: int,
    slot: tuple[tuple[Layer, frozenset[str]], ...], taken: set[tuple[int, int]],
) -> list[Ref]:  # fmt: skip
    out = []
    for layer, labels in slot:
        for i, s in enumerate(layers[layer]):
            # A span already given by the role layer is not repeated from the entity layer.
            if (
                s.label in labels
                and start <= s.start
                and s.end <= end
                and (s.start, s.end) not in taken
            ):
                out.append(Ref(layer=layer, index=i, text=text[s.start : s.end]))
                taken.add((s.start, s.end))
    return out


def build_result(
    text: str, sentences: Sequence[tuple[int, int]], decoded: Decoded,
    thresholds: Mapping[str, float], model: ModelInfo,
) -> Result:  # fmt: skip
    """The public result of one document; `sentences` are the spans `decoded` scored."""
    layers = {Layer.ENTITIES: decoded.entities, Layer.ROLES: decoded.roles}
    sentence_out, events = [], []
    for index, ((start, end), probs) in enumerate(zip(sentences, decoded.sentences, strict=True)):
        found = _event_scores(probs["events"], thresholds)
        sentence_out.append(
            Sentence(start=start, end=end, event_types=found,
                     coarse_types=coarse_types({e.label for e in found}))
        )  # fmt: skip
        for event in found:
            taken: set[tuple[int, int]] = set()
            slots = {
                name: _refs(layers, text, start, end, spec, taken) for name, spec in SLOTS.items()
            }
            events.append(
                Event(sentence=index, event_type=event.label, coarse_type=COARSE_OF[event.label],
                      score=event.score, **slots)
            )  # fmt: skip
    doc_events = _event_scores(decoded.document["events"], thresholds)
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
    )  # fmt: skip
