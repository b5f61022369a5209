"""MUC-4 as GTT processed it: one record per document, templates kept whole.

GTT lower-cased the text (`Source.lowercased`) and marks only event-relevant mentions,
and one mention per coreferent name. Repeats of a marked mention are marked too (see
`template_spans`), so the role layer is exhaustive; the WEAPON entity layer is not (weapons
that play no part in an incident are not marked). Templates keep every mention for GRIT-style
scoring; the span layers need non-overlapping spans, so `resolve_overlaps` picks one
span per place by a fixed rule and counts every pick in the ConversionLog.

The upper-case ConfliBERT copy (`muc4/conflibert/`) has no offsets and no incident
types, so it is not converted; `conflibert_docids` lets a test check it holds the same
documents in the same splits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from serving.schema import EntityType, EventType, Muc4Incident, Muc4Role, Role
from training.corpus.jsonlines import read_objects
from training.corpus.log import ConversionLog
from training.corpus.mapping import MAPPING, coarse_of
from training.corpus.record import (
    Coverage,
    Filler,
    LabelSet,
    Mention,
    Record,
    Source,
    Span,
    Split,
    TaskLabels,
    Template,
)

COLLECTIONS: dict[str, str] = {
    "muc4": "MUC-4 terrorism templates (GTT processed): incident types and role fillers "
    "with character offsets, 1300/200/200 documents in the published splits",
}
DATASET = "muc4"
SPLIT_FILES: dict[Split, str] = {Split.TRAIN: "train", Split.DEV: "dev", Split.TEST: "test"}

# Upstream labels -> ours, read from the one mapping table.
EVENT_OF_INCIDENT: dict[Muc4Incident, EventType] = {
    i: MAPPING["muc4_incident"][i.value].events[0] for i in Muc4Incident
}
ROLE_OF_SLOT: dict[Muc4Role, Role] = {
    r: role for r in Muc4Role if (role := MAPPING["muc4_role"][r.value].role) is not None
}
# A Weapon filler is also a WEAPON entity when one of its words names a weapon and none
# says it is an act or its effect. 623 of the 665 Weapon mentions pass ("bomb" 117,
# "dynamite" 62, "bombs" 45, "car bomb" 22, ...); the 42 others are vehicles ("truck",
# "bus"), aircraft ("helicopter gunships", "c-47 aircraft"), "device(s)", "bullet(s)",
# "stones", "torture", or acts ("bomb attacks", "machinegun fire", "gun rounds").
# PerpOrg fillers are not marked ORG: many are generic ("armed forces" 67, "army" 37,
# "government" 23, "death squads"), which NER guidelines do not tag as names.
WEAPON_WORDS = frozenset(
    word
    for group in (
        "bomb bombs carbomb firebomb dynamite dymanite explosive explosives tnt gunpowder",
        "an-fo anfo blasting grenade grenades mine mines landmine landmines booby-trap trap traps",
        "gun guns machinegun machineguns submachinegun submachineguns rifle rifles pistol pistols",
        "weapon weapons firearms ak ak-47 ak-47s ak-m m-16 m-16s m-79 uzi",
        "rocket rockets missile missiles mortar mortars artillery rpg rpg-2 rpg-7 rpg-18",
        "launcher launchers bazooka bazookas flamethrower flamethrowers napalm molotov",
        "machete machetes axes catapults",
    )
    for word in group.split()
)
NOT_WEAPON_WORDS = frozenset({"attack", "attacks", "blast", "blasts", "fire", "bursts", "rounds"})

JsonObj = dict[str, Any]
L = TypeVar("L", Role, EntityType)


def parse_incidents(raw: str) -> list[Muc4Incident]:
    """Upstream incident type as a list: "bombing / attack" counts as both, in that order."""
    out: list[Muc4Incident] = []
    for part in raw.split("/"):
        name = part.strip()
        try:
            incident = Muc4Incident(name)
        except ValueError:
            known = [i.value for i in Muc4Incident]
            raise ValueError(
                f"unknown MUC-4 incident type {name!r} in {raw!r}; expected one of {known} "
                "(add new upstream types to Muc4Incident and EVENT_OF_INCIDENT)"
            ) from None
        if incident not in out:
            out.append(incident)
    return out


def is_weapon_name(mention: str) -> bool:
    """Whether a Weapon filler names a weapon (see WEAPON_WORDS for the rule)."""
    words = re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", mention.casefold())
    parts = {p for w in words for p in (w, *w.split("-"))}
    return bool(parts & WEAPON_WORDS) and not parts & NOT_WEAPON_WORDS


@dataclass(frozen=True)
class Candidate(Generic[L]):
    start: int
    end: int
    label: L


def resolve_overlaps(
    candidates: Sequence[Candidate[L]], log: ConversionLog, layer: str
) -> list[Candidate[L]]:
    """One label per place, so the layer can become BIO tags.

    Identical spans: the first in upstream order wins (templates in file order, slots in
    Muc4Role order). Nested or crossing spans: the longer wins (ties: the earlier start).
    Each application is counted as `<layer>_<identical|nested|crossing>_<same|conflict>`,
    "conflict" meaning the dropped span had a different label.
    """
    first: dict[tuple[int, int], Candidate[L]] = {}
    for c in candidates:
        kept = first.setdefault((c.start, c.end), c)
        if kept is not c:
            log.resolve(DATASET, f"{layer}_identical_{_same(kept, c)}")
    accepted: list[Candidate[L]] = []
    # sorted() is stable, so equal keys keep upstream order.
    for c in sorted(first.values(), key=lambda c: (c.start - c.end, c.start)):
        clash = next((a for a in accepted if c.start < a.end and a.start < c.end), None)
        if clash is None:
            accepted.append(c)
            continue
        shape = "nested" if clash.start <= c.start and c.end <= clash.end else "crossing"
        log.resolve(DATASET, f"{layer}_{shape}_{_same(clash, c)}")
    return sorted(accepted, key=lambda c: (c.start, c.end))


def _same(a: Candidate[L], b: Candidate[L]) -> str:
    return "same" if a.label is b.label else "conflict"


def read_template(raw: JsonObj, text: str, rel: str, where: str, log: ConversionLog) -> Template:
    """One upstream template; mentions whose offset does not match the text are dropped."""
    incidents = parse_incidents(str(raw["incident_type"]))
    fillers: list[Filler] = []
    for slot in Muc4Role:
        for n, entity in enumerate(raw.get(slot.value) or []):
            mentions: list[Mention] = []
            for mention_text, start in entity:
                end = start + len(mention_text)
                if not mention_text or start < 0 or text[start:end] != mention_text:
                    found = text[max(start, 0) : max(end, 0)]
                    detail = f"{slot.value} {mention_text!r} at {start}: the text has {found!r}"
                    log.skip(DATASET, rel, where, "offset_mismatch", detail)
                    continue
                mentions.append(Mention(text=mention_text, start=start, end=end))
            if not mentions:
                detail = f"{slot.value} entity {n} has no mention left"
                log.skip(DATASET, rel, where, "filler_without_mentions", detail)
                continue
            fillers.append(Filler(role=slot, mentions=mentions))
    found_events = {EVENT_OF_INCIDENT[i] for i in incidents}
    return Template(
        incident_type=str(raw["incident_type"]),
        incidents=incidents,
        events=[e for e in EventType if e in found_events],
        fillers=fillers,
    )


def other_occurrences(text: str, mention: str, start: int) -> list[int]:
    """Starts of the mention's other whole-word occurrences in the text."""
    pattern = re.compile(rf"(?<!\w){re.escape(mention)}(?!\w)")
    return [m.start() for m in pattern.finditer(text) if m.start() != start]


def template_spans(templates: Sequence[Template], text: str, log: ConversionLog) -> list[Span]:
    """Role spans for every mention and WEAPON spans for weapon names, overlaps resolved.

    GTT lists one mention per coreferent name, so "the fmln" is marked once however often
    it recurs. Every other whole-word occurrence of a marked mention is given its role
    too (after the marked ones, so those win any conflict), which makes the role layer
    exhaustive: a word no template names plays no part in a MUC-4 incident.
    """
    roles: list[Candidate[Role]] = []
    weapons: list[Candidate[EntityType]] = []
    expanded: list[Candidate[Role]] = []
    for template in templates:
        for filler in template.fillers:
            for m in filler.mentions:
                roles.append(Candidate(m.start, m.end, ROLE_OF_SLOT[filler.role]))
                for start in other_occurrences(text, m.text, m.start):
                    expanded.append(
                        Candidate(start, start + len(m.text), ROLE_OF_SLOT[filler.role])
                    )
                if filler.role is not Muc4Role.WEAPON:
                    continue
                if is_weapon_name(m.text):
                    weapons.append(Candidate(m.start, m.end, EntityType.WEAPON))
                else:
                    log.resolve(DATASET, "weapon_filler_not_a_weapon_name")
    if expanded:
        log.resolve(DATASET, "role_mention_repeated", len(expanded))
    role_at = {(c.start, c.end): c.label for c in resolve_overlaps(roles + expanded, log, "role")}
    entity_at = {(c.start, c.end): c.label for c in resolve_overlaps(weapons, log, "weapon")}
    return [
        Span(start=s, end=e, role=role_at.get((s, e)), entity=entity_at.get((s, e)))
        for s, e in sorted(role_at.keys() | entity_at.keys())
    ]


COVERAGE = [
    Coverage(
        label_set=LabelSet.ROLES,
        labels=[r.value for r in ROLE_OF_SLOT.values()],
        exhaustive=True,
    ),
    Coverage(
        label_set=LabelSet.ENTITIES,
        labels=[EntityType.WEAPON.value],
        exhaustive=False,
    ),
    # A document without templates is a true negative for these six types.
    Coverage(
        label_set=LabelSet.EVENTS,
        labels=[e.value for e in EventType if e in EVENT_OF_INCIDENT.values()],
    ),
    Coverage(label_set=LabelSet.MUC4_INCIDENT, labels=[i.value for i in Muc4Incident]),
    Coverage(label_set=LabelSet.MUC4_TEMPLATES, labels=[r.value for r in Muc4Role]),
]


def doc_record(raw: JsonObj, split: Split, rel: str, log: ConversionLog) -> Record:
    """One upstream document (a parsed JSON line) as a Record."""
    docid, text = str(raw["docid"]), str(raw["doctext"])
    templates = [
        read_template(t, text, rel, f"{docid} template {n}", log)
        for n, t in enumerate(raw.get("templates") or [])
    ]
    events = {e for t in templates for e in t.events}
    incidents = {i for t in templates for i in t.incidents}
    return Record(
        id=f"{DATASET}/{docid}",
        collection="muc4",
        split=split,
        text=text,
        source=Source(dataset=DATASET, file=rel, upstream_id=docid, lowercased=True),
        annotated=COVERAGE,
        spans=template_spans(templates, text, log),
        events=[e for e in EventType if e in events],
        coarse=coarse_of(events),
        tasks=TaskLabels(muc4_incident=[i.value for i in Muc4Incident if i in incidents]),
        templates=templates,
    )


def convert(data_dir: Path, log: ConversionLog) -> Iterator[Record]:
    for split, name in SPLIT_FILES.items():
        rel = f"muc4/{name}.json"
        for _, raw in read_objects(data_dir / rel):
            yield doc_record(raw, split, rel, log)


def conflibert_docids(data_dir: Path) -> dict[Split, set[str]]:
    """Document ids of ConfliBERT's upper-case copy, per split (a JSON object per file)."""
    out: dict[Split, set[str]] = {}
    for split, name in SPLIT_FILES.items():
        with (data_dir / "muc4" / "conflibert" / f"{name}.json").open(encoding="utf-8") as f:
            out[split] = set(json.load(f))
    return out
