"""What a tagged document looks like: the public output of the engine, the HTTP service and
batch labeling alike. Labels are the schema's enums, so the OpenAPI page lists them."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from serving.schema import CoarseType, EntityType, EventType, Role


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Entity(_Out):
    start: int = Field(description="Character offset of the first character.")
    end: int = Field(description="Character offset after the last one: text == input[start:end].")
    text: str
    label: EntityType
    score: float = Field(description="Mean probability of the chosen tags over the span.")


class RoleSpan(_Out):
    start: int
    end: int
    text: str
    label: Role
    score: float


class EventScore(_Out):
    label: EventType
    score: float


class CoarseScore(_Out):
    label: CoarseType
    score: float


class Sentence(_Out):
    start: int
    end: int
    event_types: list[EventScore]
    coarse_types: list[CoarseType]


class Layer(StrEnum):
    ENTITIES = "entities"
    ROLES = "roles"


class Ref(_Out):
    """Points at one span of the result: `result.<layer>[index]`."""

    layer: Layer
    index: int
    text: str


class Event(_Out):
    """One event type found in one sentence, with the spans of that sentence that fill its
    slots: who did it, to whom, with what, where and when."""

    sentence: int = Field(description="Index into `sentences`.")
    event_type: EventType
    coarse_type: CoarseType
    score: float
    perpetrators: list[Ref]
    victims: list[Ref]
    targets: list[Ref]
    instruments: list[Ref]
    locations: list[Ref]
    dates: list[Ref]
    actors: list[Ref] = Field(description="Other people, organisations and groups named.")


class ModelInfo(_Out):
    name: str
    version: str


class Result(_Out):
    model: ModelInfo
    windows: int = Field(description="Encoder windows the document needed (long ones: >1).")
    entities: list[Entity]
    roles: list[RoleSpan]
    event_types: list[EventScore] = Field(
        description="Document-level event types: the document's own, and every type one of "
        "its sentences reports (at the best score)."
    )
    coarse_types: list[CoarseType]
    sentences: list[Sentence]
    events: list[Event]
    dataset_labels: dict[str, list[str]] = Field(
        description="Labels of the dataset-specific heads (CAMEO PentaClass, SATP, ...)."
    )
    uncertainty: float = Field(
        ge=0.0,
        le=1.0,
        description="How unsure the model is of this document: 0 = sure, 1 = it could not "
        "decide (labels at their threshold, spans at probability 0.5 or less): the mean "
        "doubt over its spans, its three most doubtful event labels and each sentence's "
        "most doubtful one. For choosing the documents to correct first.",
    )
