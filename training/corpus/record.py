"""The one record format every dataset is converted into.

A record is one text (a document or a sentence) with character-offset spans and labels,
plus what matters most for multi-task training: which label sets it was annotated for
(`annotated`). A loss must ignore every label set a record is not annotated for: SATP
says nothing about entities, re3d nothing about events.
"""

from __future__ import annotations

import itertools
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from serving.schema import (
    TASK_LABELS,
    CoarseType,
    EntityType,
    EventType,
    Muc4Incident,
    Muc4Role,
    Role,
)


class Split(StrEnum):
    TRAIN = "train"
    DEV = "dev"
    TEST = "test"


class LabelSet(StrEnum):
    """Everything a record can be annotated for.

    Record-level sets describe the record's whole text (a document, or a sentence where
    the dataset's unit is a sentence); SENTENCE_* sets describe `Record.sentences`.
    """

    ENTITIES = "entities"
    ROLES = "roles"
    EVENTS = "events"
    COARSE = "coarse"
    CAMEO_PENTA = "cameo_penta"
    SATP = "satp"
    IPE = "ipe"
    INSIGHTCRIME = "insightcrime"
    MUC4_INCIDENT = "muc4_incident"
    MUC4_TEMPLATES = "muc4_templates"
    SENTENCE_EVENTS = "sentence_events"
    SENTENCE_COARSE = "sentence_coarse"
    SENTENCE_IPE = "sentence_ipe"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Coverage(_Strict):
    """What annotators looked for in one label set of one record."""

    label_set: LabelSet
    # The labels of that set the dataset annotates; a label not listed is unknown, not absent.
    labels: list[str]
    # False where only some mentions are marked (MUC-4 marks event-relevant mentions only),
    # so an unmarked token is not evidence of "O".
    exhaustive: bool = True


class Source(_Strict):
    dataset: str
    file: str  # relative to the data directory
    upstream_id: str
    lowercased: bool = False  # the upstream text lost its case (MUC-4, most of IPE)


class Span(_Strict):
    """A character span [start, end) with an entity type, a role, or both."""

    start: int = Field(ge=0)
    end: int
    entity: EntityType | None = None
    role: Role | None = None

    @model_validator(mode="after")
    def _check(self) -> Span:
        if self.end <= self.start:
            raise ValueError(f"span end {self.end} must be after start {self.start}")
        if self.entity is None and self.role is None:
            raise ValueError(f"span [{self.start}, {self.end}) has neither entity nor role")
        return self


class TaskLabels(_Strict):
    """Dataset-specific labels (values of the enums in serving.schema.TASK_LABELS)."""

    cameo_penta: list[str] = []
    satp: list[str] = []
    ipe: list[str] = []
    insightcrime: list[str] = []
    muc4_incident: list[str] = []

    @model_validator(mode="after")
    def _check(self) -> TaskLabels:
        for name, enum in TASK_LABELS.items():
            allowed = {m.value for m in enum}
            bad = [v for v in getattr(self, name) if v not in allowed]
            if bad:
                raise ValueError(
                    f"unknown {name} label(s) {bad}; expected one of {sorted(allowed)}"
                )
        return self


class Sentence(_Strict):
    start: int = Field(ge=0)
    end: int
    events: list[EventType] = []
    coarse: list[CoarseType] = []
    tasks: TaskLabels = TaskLabels()


class Mention(_Strict):
    text: str
    start: int = Field(ge=0)
    end: int


class Filler(_Strict):
    """One role-filler entity: its coreferent mentions (any one matching counts)."""

    role: Muc4Role
    mentions: list[Mention]


class Template(_Strict):
    """A MUC-4 event template, kept whole for GRIT-style role-filler scoring."""

    incident_type: str  # as upstream spells it, e.g. "bombing / attack"
    incidents: list[Muc4Incident]
    events: list[EventType]
    fillers: list[Filler]


class Record(_Strict):
    id: str
    collection: str  # the corpus view this record belongs to, e.g. "re3d" or "re3d_conflibert"
    split: Split
    text: str
    source: Source
    annotated: list[Coverage]
    spans: list[Span] = []
    events: list[EventType] = []  # document-level event types
    coarse: list[CoarseType] = []  # document-level coarse types, as annotated
    tasks: TaskLabels = TaskLabels()  # document-level dataset-specific labels
    sentences: list[Sentence] = []  # only where a dataset labels sentences
    templates: list[Template] = []

    @model_validator(mode="after")
    def _check(self) -> Record:
        n = len(self.text)
        if not self.text.strip():
            raise ValueError("text is empty")
        bounded: list[Span | Sentence] = [*self.spans, *self.sentences]
        for item in bounded:
            if item.end > n:
                raise ValueError(f"offset [{item.start}, {item.end}) is past the text end {n}")
        for layer in ("entity", "role"):
            marked = sorted((s.start, s.end) for s in self.spans if getattr(s, layer) is not None)
            for (a0, a1), (b0, b1) in itertools.pairwise(marked):
                if b0 < a1:
                    raise ValueError(f"{layer} spans [{a0}, {a1}) and [{b0}, {b1}) overlap")
        sets = [c.label_set for c in self.annotated]
        if len(sets) != len(set(sets)):
            raise ValueError(f"label set listed twice in annotated: {sets}")
        return self

    def coverage(self, label_set: LabelSet) -> Coverage | None:
        return next((c for c in self.annotated if c.label_set is label_set), None)

    def span_text(self, span: Span | Mention | Sentence) -> str:
        return self.text[span.start : span.end]
