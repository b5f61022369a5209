"""From what a file says (text, labelled spans, event types) to a validated Record.

Every format reader ends here, so ids, sources, coverage and label checks are the same
whatever the analyst's tool was.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal, TypeGuard

from pydantic import ValidationError

from serving.schema import ACTOR_ROLES, EVENT_ROLES, CoarseType, EntityType, EventType, Role
from training.corpus.jsonlines import short_error
from training.corpus.mapping import coarse_of
from training.corpus.record import Coverage, LabelSet, Record, Source, Span, Split
from training.corrections.errors import CorrectionsError

COLLECTION = "corrections"
Layer = Literal["entity", "role"]
ENTITY_LABELS = frozenset(e.value for e in EntityType)
ROLE_LABELS = frozenset(r.value for r in Role)
EVENT_LABELS = frozenset(e.value for e in EventType)
ACTOR_ROLE_LABELS = frozenset(r.value for r in ACTOR_ROLES)


def text_key(text: str) -> str:
    """The text as duplicates are compared: NFKC, casefolded, white space collapsed."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"\s+", " ", folded).strip()


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def record_id(text: str) -> str:
    """The same text (up to text_key) gets the same id in every file and every import."""
    return f"{COLLECTION}/{key_hash(text_key(text))[:12]}"


def full_coverage() -> list[Coverage]:
    """A corrected document was reviewed for everything: every entity type, event role,
    event type and coarse type (but NON_CONFLICT, as in convert_rare_events) is exhaustive.

    Actor roles (CAMEO's SOURCE_ACTOR, ...) are left out: the model tags them with a head of
    their own, so they overlap event roles in its output, and a record holds one role per
    span. `without_actor_roles` drops them; CAMEO keeps teaching them."""
    return [
        layer_coverage("entity"),
        Coverage(label_set=LabelSet.ROLES, labels=[r.value for r in EVENT_ROLES]),
        Coverage(label_set=LabelSet.EVENTS, labels=[e.value for e in EventType]),
        Coverage(
            label_set=LabelSet.COARSE,
            labels=[c.value for c in CoarseType if c is not CoarseType.NON_CONFLICT],
        ),
    ]


def layer_coverage(layer: Layer) -> Coverage:
    if layer == "entity":
        return Coverage(label_set=LabelSet.ENTITIES, labels=[e.value for e in EntityType])
    return Coverage(label_set=LabelSet.ROLES, labels=[r.value for r in Role])


def without_actor_roles(marked: Iterable[Marked]) -> list[Marked]:
    return [m for m in marked if m.layer != "role" or m.label not in ACTOR_ROLE_LABELS]


def layer_of(label: str) -> Layer | None:
    """The layer a label belongs to; the two label sets share no value."""
    if label in ENTITY_LABELS:
        return "entity"
    if label in ROLE_LABELS:
        return "role"
    return None


def is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def check_label(label: object, layer: Layer, where: str) -> str:
    labels = ENTITY_LABELS if layer == "entity" else ROLE_LABELS
    if not isinstance(label, str) or label not in labels:
        raise CorrectionsError(
            f"{where}: unknown {layer} label {label!r}; use one of {allowed(layer)}"
        )
    return label


def allowed(kind: Layer | Literal["event"]) -> str:
    """The allowed labels of a layer (or event types), in schema order, for messages."""
    order: type[StrEnum] = {"entity": EntityType, "role": Role, "event": EventType}[kind]
    return ", ".join(m.value for m in order)


@dataclass(frozen=True)
class Marked:
    """One label on one span, as a file gives it; `where` names it for errors."""

    start: int
    end: int
    layer: Layer
    label: str
    where: str


def check_events(labels: Iterable[object], where: str) -> list[EventType]:
    """Event types in schema order; an unknown one is an error naming it."""
    found: set[EventType] = set()
    for label in labels:
        if not isinstance(label, str) or label not in EVENT_LABELS:
            raise CorrectionsError(
                f"{where}: unknown event type {label!r}; use one of {allowed('event')}"
            )
        found.add(EventType(label))
    return [e for e in EventType if e in found]


def spans_of(marked: Iterable[Marked]) -> list[Span]:
    """One Span per offsets, holding its entity and its role; the same layer twice on the
    same offsets with different labels is an error (one layer holds one label)."""
    by_offsets: dict[tuple[int, int], dict[Layer, Marked]] = {}
    for m in marked:
        layers = by_offsets.setdefault((m.start, m.end), {})
        other = layers.get(m.layer)
        if other is not None and other.label != m.label:
            raise CorrectionsError(
                f"{m.where}: [{m.start}, {m.end}) is both {other.label} and {m.label} "
                f"({other.where}); keep one {m.layer} label per span"
            )
        layers[m.layer] = m
    spans = []
    for (start, end), layers in sorted(by_offsets.items()):
        entity, role = layers.get("entity"), layers.get("role")
        where = (entity or role or next(iter(layers.values()))).where
        try:
            spans.append(
                Span(
                    start=start,
                    end=end,
                    entity=EntityType(entity.label) if entity else None,
                    role=Role(role.label) if role else None,
                )
            )
        except ValidationError as err:
            raise CorrectionsError(f"{where}: {short_error(err)}") from None
    return spans


def make_record(
    *,
    text: object,
    spans: list[Span],
    events: list[EventType],
    annotated: list[Coverage],
    path: Path,
    upstream_id: str,
    where: str,
) -> Record:
    """The record of collection "corrections" (split TRAIN until merged); Record's own
    checks (overlaps, offsets past the end) come back naming `where`."""
    if not isinstance(text, str) or not text.strip():
        raise CorrectionsError(f"{where}: the text is empty or missing; give the document text")
    try:
        return Record(
            id=record_id(text),
            collection=COLLECTION,
            split=Split.TRAIN,
            text=text,
            source=Source(dataset=COLLECTION, file=str(path), upstream_id=upstream_id),
            annotated=annotated,
            spans=spans,
            events=events,
            coarse=coarse_of(events),
        )
    except ValidationError as err:
        raise CorrectionsError(f"{where}: {short_error(err)}") from None


@dataclass
class Found:
    """What reading the files gave: records, every problem, and notes for the person."""

    records: list[Record]
    problems: list[str]
    notes: list[str]
