"""The label schema: the one place where every public label is defined.

The order of each enum is part of the public API (it fixes model output ids), so new
labels are appended, never inserted, and every change bumps SCHEMA_VERSION. Label ids are
derived from these enums, never from training data, so a data slice that lacks a label
cannot shift the ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum, StrEnum
from types import MappingProxyType

SCHEMA_VERSION = "1.0"


class EntityType(StrEnum):
    PER = "PER"
    ORG = "ORG"
    NORP = "NORP"  # nationality, religious or ethnic group
    LOC = "LOC"
    DATE = "DATE"
    QUANTITY = "QUANTITY"
    MONEY = "MONEY"
    DOC_REF = "DOC_REF"
    WEAPON = "WEAPON"
    MIL_PLATFORM = "MIL_PLATFORM"
    VEHICLE = "VEHICLE"


class Role(StrEnum):
    """A second span layer: the part a span plays in an event."""

    PERP_IND = "PERP_IND"
    PERP_ORG = "PERP_ORG"
    VICTIM = "VICTIM"
    PHYS_TARGET = "PHYS_TARGET"
    INSTRUMENT = "INSTRUMENT"
    SOURCE_ACTOR = "SOURCE_ACTOR"
    TARGET_ACTOR = "TARGET_ACTOR"
    RECIPROCAL_ACTOR = "RECIPROCAL_ACTOR"


# Two annotation schemes share the role layer and legitimately overlap (a perpetrator is
# often also a source actor), so the model gives each its own BIO head.
EVENT_ROLES: tuple[Role, ...] = (
    Role.PERP_IND,
    Role.PERP_ORG,
    Role.VICTIM,
    Role.PHYS_TARGET,
    Role.INSTRUMENT,
)
ACTOR_ROLES: tuple[Role, ...] = (Role.SOURCE_ACTOR, Role.TARGET_ACTOR, Role.RECIPROCAL_ACTOR)


class CoarseType(StrEnum):
    VIOLENCE = "VIOLENCE"
    DEMONSTRATION = "DEMONSTRATION"
    STATE_COERCION = "STATE_COERCION"
    OTHER_CONFLICT = "OTHER_CONFLICT"
    NON_CONFLICT = "NON_CONFLICT"  # a text with no event type


class EventType(StrEnum):
    """Multi-label, per sentence and per document."""

    ARMED_ATTACK = "ARMED_ATTACK"
    ARMED_CLASH = "ARMED_CLASH"
    BOMBING = "BOMBING"
    AIRSTRIKE = "AIRSTRIKE"
    SHELLING_MISSILE = "SHELLING_MISSILE"
    CHEMICAL_ATTACK = "CHEMICAL_ATTACK"
    KIDNAPPING = "KIDNAPPING"
    ARSON_DESTRUCTION = "ARSON_DESTRUCTION"
    ROBBERY_HIJACK = "ROBBERY_HIJACK"
    SEXUAL_VIOLENCE = "SEXUAL_VIOLENCE"
    PROTEST = "PROTEST"
    RIOT = "RIOT"
    REPRESSION = "REPRESSION"
    ARREST = "ARREST"
    THREAT_COERCION = "THREAT_COERCION"
    TERRITORY_CHANGE = "TERRITORY_CHANGE"
    WEAPONS_SEIZURE = "WEAPONS_SEIZURE"
    CRIME = "CRIME"


_V, _D, _S, _O = (
    CoarseType.VIOLENCE,
    CoarseType.DEMONSTRATION,
    CoarseType.STATE_COERCION,
    CoarseType.OTHER_CONFLICT,
)
COARSE_OF: Mapping[EventType, CoarseType] = MappingProxyType(
    {
        EventType.ARMED_ATTACK: _V,
        EventType.ARMED_CLASH: _V,
        EventType.BOMBING: _V,
        EventType.AIRSTRIKE: _V,
        EventType.SHELLING_MISSILE: _V,
        EventType.CHEMICAL_ATTACK: _V,
        EventType.KIDNAPPING: _V,
        EventType.ARSON_DESTRUCTION: _V,
        EventType.ROBBERY_HIJACK: _V,
        EventType.SEXUAL_VIOLENCE: _V,
        EventType.PROTEST: _D,
        EventType.RIOT: _D,
        EventType.REPRESSION: _S,
        EventType.ARREST: _S,
        EventType.THREAT_COERCION: _O,
        EventType.TERRITORY_CHANGE: _O,
        EventType.WEAPONS_SEIZURE: _O,
        EventType.CRIME: _O,
    }
)


def coarse_types(events: frozenset[EventType] | set[EventType]) -> list[CoarseType]:
    """Coarse types of a set of event types, in schema order; NON_CONFLICT when empty."""
    if not events:
        return [CoarseType.NON_CONFLICT]
    found = {COARSE_OF[e] for e in events}
    return [c for c in CoarseType if c in found]


# Dataset-specific label sets that published numbers are reported on. Each keeps the
# upstream column order so the evaluation reproduces those tasks exactly.


class CameoPenta(StrEnum):
    """CAMEO PentaClass; upstream labels are the digits 0-4 in this order."""

    NEUTRAL = "NEUTRAL"
    VERBAL_COOPERATION = "VERBAL_COOPERATION"
    MATERIAL_COOPERATION = "MATERIAL_COOPERATION"
    VERBAL_CONFLICT = "VERBAL_CONFLICT"
    MATERIAL_CONFLICT = "MATERIAL_CONFLICT"


class SatpLabel(StrEnum):
    """SATP's four 0/1 columns, in file order."""

    ARMED_ASSAULT = "ARMED_ASSAULT"
    BOMBING = "BOMBING"
    KIDNAPPING = "KIDNAPPING"
    OTHER_VIOLENCE = "OTHER_VIOLENCE"


class IpeLabel(StrEnum):
    """IndiaPoliceEvents' five columns, in file order (what police did)."""

    KILL = "KILL"
    ARREST = "ARREST"
    ANY_ACTION = "ANY_ACTION"
    FAIL = "FAIL"
    FORCE = "FORCE"


class InsightCrimeLabel(StrEnum):
    """InsightCrime's seven 0/1 topic columns, in file order."""

    DRUG_TRAFFICKING = "DRUG_TRAFFICKING"
    CORRUPTION = "CORRUPTION"
    SECURITY_POLICY = "SECURITY_POLICY"
    HOMICIDE_VIOLENCE = "HOMICIDE_VIOLENCE"
    EXTORTION_KIDNAPPING_LAUNDERING = "EXTORTION_KIDNAPPING_LAUNDERING"
    ENVIRONMENTAL_CRIME = "ENVIRONMENTAL_CRIME"
    OTHER_TRAFFICKING = "OTHER_TRAFFICKING"


class Muc4Incident(StrEnum):
    """MUC-4 incident types as GTT spells them ("bombing / attack" counts as both)."""

    ATTACK = "attack"
    BOMBING = "bombing"
    KIDNAPPING = "kidnapping"
    ARSON = "arson"
    ROBBERY = "robbery"
    FORCED_WORK_STOPPAGE = "forced work stoppage"


class Muc4Role(StrEnum):
    """MUC-4 role-filler slots, as scored by GRIT/GTT."""

    PERP_IND = "PerpInd"
    PERP_ORG = "PerpOrg"
    TARGET = "Target"
    VICTIM = "Victim"
    WEAPON = "Weapon"


TASK_LABELS: Mapping[str, type[Enum]] = MappingProxyType(
    {
        "cameo_penta": CameoPenta,
        "satp": SatpLabel,
        "ipe": IpeLabel,
        "insightcrime": InsightCrimeLabel,
        "muc4_incident": Muc4Incident,
    }
)


def bio_tags(labels: Iterable[Enum]) -> list[str]:
    """`O` first, then `B-x`, `I-x` for each label in order."""
    tags = ["O"]
    for label in labels:
        tags += [f"B-{label.value}", f"I-{label.value}"]
    return tags


ENTITY_TAGS = bio_tags(EntityType)
ROLE_TAGS = bio_tags(Role)
EVENT_ROLE_TAGS = bio_tags(EVENT_ROLES)
ACTOR_ROLE_TAGS = bio_tags(ACTOR_ROLES)
ENTITY_TAG_IDS = {tag: i for i, tag in enumerate(ENTITY_TAGS)}
ROLE_TAG_IDS = {tag: i for i, tag in enumerate(ROLE_TAGS)}
EVENT_TYPE_IDS = {e: i for i, e in enumerate(EventType)}


def label_lists() -> dict[str, list[str]]:
    """Every label list in order: what an artifact stores and loading compares against."""
    lists = {
        "entity_types": [e.value for e in EntityType],
        "roles": [r.value for r in Role],
        "event_types": [e.value for e in EventType],
        "coarse_types": [c.value for c in CoarseType],
        "entity_tags": ENTITY_TAGS,
        "role_tags": ROLE_TAGS,
        "event_role_tags": EVENT_ROLE_TAGS,
        "actor_role_tags": ACTOR_ROLE_TAGS,
    }
    for name, enum in TASK_LABELS.items():
        lists[name] = [m.value for m in enum]
    return lists


def label_differences(labels: dict[str, object]) -> list[str]:
    """Keys where a saved labels.json differs from this code's schema (empty: identical)."""
    expected: dict[str, object] = {"schema_version": SCHEMA_VERSION, **label_lists()}
    return sorted(k for k in expected.keys() | labels.keys() if labels.get(k) != expected.get(k))
