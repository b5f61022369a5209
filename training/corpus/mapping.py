"""The one table from every dataset's labels to ours.

Converters look labels up here and nowhere else; `data report` prints this table into
data/README.md, so the documentation cannot drift from the code. A label mapped to an
empty Target is known and deliberately left without a place in our schema (its
dataset-specific task label still keeps it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from serving.schema import COARSE_OF, CoarseType, EntityType, EventType, Role

E, R, V, C = EntityType, Role, EventType, CoarseType
# PLOVER codes (event, mode); a rule is (regex cue or None, event types).
Rule = tuple[str | None, tuple[EventType, ...]]


@dataclass(frozen=True)
class Target:
    entity: EntityType | None = None
    role: Role | None = None
    events: tuple[EventType, ...] = ()
    coarse: tuple[CoarseType, ...] = ()  # only for labels that name a coarse type directly
    why: str = ""

    def describe(self) -> str:
        parts = [p.value for p in (self.entity, self.role) if p is not None]
        parts += [e.value for e in self.events] + [f"coarse {c.value}" for c in self.coarse]
        return " + ".join(parts) or "(none)"


def _t(*items: EntityType | Role | EventType | CoarseType, why: str = "") -> Target:
    return Target(
        entity=next((i for i in items if isinstance(i, EntityType)), None),
        role=next((i for i in items if isinstance(i, Role)), None),
        events=tuple(i for i in items if isinstance(i, EventType)),
        coarse=tuple(i for i in items if isinstance(i, CoarseType)),
        why=why,
    )


_TABLE: dict[str, dict[str, Target]] = {
    "re3d": {
        "Organisation": _t(E.ORG),
        "Person": _t(E.PER),
        "Nationality": _t(E.NORP),
        "Location": _t(E.LOC),
        "Temporal": _t(E.DATE),
        "Quantity": _t(E.QUANTITY),
        "Money": _t(E.MONEY),
        "DocumentReference": _t(E.DOC_REF),
        "Weapon": _t(E.WEAPON),
        "MilitaryPlatform": _t(E.MIL_PLATFORM),
        "Vehicle": _t(E.VEHICLE),
        "CommsIdentifier": _t(why="phone numbers, call signs: no place in the schema (6 in re3d)"),
        "Frequency": _t(why="radio frequencies: no place in the schema"),
        "Coordinate": _t(why="grid references: no place in the schema"),
        "Url": _t(why="no place in the schema"),
    },
    # GTT's incident types. Forced work stoppages are strikes imposed by armed groups under
    # threat (the FMLN's "armed strikes"). "bombing / attack" counts as both.
    "muc4_incident": {
        "attack": _t(V.ARMED_ATTACK),
        "bombing": _t(V.BOMBING),
        "kidnapping": _t(V.KIDNAPPING),
        "arson": _t(V.ARSON_DESTRUCTION),
        "robbery": _t(V.ROBBERY_HIJACK),
        "forced work stoppage": _t(V.THREAT_COERCION, why="strikes imposed under threat"),
    },
    "muc4_role": {
        "PerpInd": _t(R.PERP_IND),
        "PerpOrg": _t(R.PERP_ORG, why="not ORG: many fillers are generic (army, government)"),
        "Target": _t(R.PHYS_TARGET),
        "Victim": _t(R.VICTIM),
        "Weapon": _t(
            R.INSTRUMENT, why="also WEAPON where a word names a weapon (convert_muc4.WEAPON_WORDS)"
        ),
    },
    "cameo_ner": {
        "S": _t(R.SOURCE_ACTOR),
        "T": _t(R.TARGET_ACTOR),
        "R": _t(R.RECIPROCAL_ACTOR, why="both parties to a reciprocal act, e.g. talks"),
    },
    "plover_actor": {
        "source": _t(R.SOURCE_ACTOR),
        "target": _t(R.TARGET_ACTOR),
        "SRC/TAR": _t(
            R.RECIPROCAL_ACTOR, why="in a SRC/TAR markup phrase, or both source and target"
        ),
    },
    "satp": {
        "ARMED_ASSAULT": _t(V.ARMED_ATTACK),
        "BOMBING": _t(V.BOMBING),
        "KIDNAPPING": _t(V.KIDNAPPING),
        "OTHER_VIOLENCE": _t(C.VIOLENCE, why="no fine type can be told; coarse type only"),
    },
    "ipe": {
        "KILL": _t(V.REPRESSION, why="police killing people"),
        "ARREST": _t(V.ARREST),
        "ANY_ACTION": _t(why="any police action, too broad for one event type"),
        "FAIL": _t(why="police failing to act: not an event"),
        "FORCE": _t(V.REPRESSION, why="police using force against people"),
    },
    "insightcrime": {
        "DRUG_TRAFFICKING": _t(V.CRIME),
        "CORRUPTION": _t(why="a topic, rarely a reported event"),
        "SECURITY_POLICY": _t(why="policy and law-enforcement topic, not an event"),
        "HOMICIDE_VIOLENCE": _t(C.VIOLENCE, why="violence of unknown fine type"),
        "EXTORTION_KIDNAPPING_LAUNDERING": _t(V.CRIME, why="mixes kidnapping with crimes"),
        "ENVIRONMENTAL_CRIME": _t(V.CRIME),
        "OTHER_TRAFFICKING": _t(V.CRIME),
    },
}

# PLOVER: (event, mode) -> The first rule whose regex (case-blind) matches the sentence
# gives its event types; None matches anything. A mode lumps together what our schema
# splits (CAMEO 194 artillery and 195 aerial weapons both became "heavy-weapons"), so a
# few entries look at the text. Mode None and "" are the same; "*" is any mode. Counts
# are sentences in the file; every group was read before deciding.
PLOVER_RULES: dict[tuple[str, str], list[Rule]] = {
    ("ASSAULT", ""): [(None, (V.ARMED_ATTACK,))],  # none here; CAMEO 180 violence
    ("ASSAULT", "abduct"): [(None, (V.KIDNAPPING,))],  # none here; CAMEO 181
    ("ASSAULT", "assassinate"): [(None, (V.ARMED_ATTACK,))],  # 3 killings, attempts
    # 1 soldiers beating detainees, 2 torture: violence against people, no weapon needed.
    ("ASSAULT", "beat"): [(None, (V.ARMED_ATTACK,))],
    ("ASSAULT", "torture"): [(None, (V.ARMED_ATTACK,))],
    ("ASSAULT", "primitive"): [(None, (V.ARMED_ATTACK,))],  # 1 militiamen with machetes
    ("ASSAULT", "explosives"): [(None, (V.BOMBING,))],  # 5 bombs, car bomb, IED
    ("ASSAULT", "suicide-attack"): [(None, (V.BOMBING,))],  # 2 suicide bombings
    ("ASSAULT", "sexual"): [(None, (V.SEXUAL_VIOLENCE,))],  # 1
    ("FIGHT", ""): [(None, (V.ARMED_CLASH,))],  # 1 "fighting between A and B"
    # 9: aircraft/helicopters (3), shelling/artillery/tank fire (3), ground offensives
    # retaking/capturing/invading (3).
    ("FIGHT", "heavy-weapons"): [
        (r"\b(aircraft|helicopters?|gunships?|jets?|air ?strikes?|air raids?)\b", (V.AIRSTRIKE,)),
        (r"\b(shell(s|ed|ing)?|artillery|mortars?|rockets?)\b", (V.SHELLING_MISSILE,)),
        (r"\b(retak\w*|captur\w*|overr[au]n|invasion)\b", (V.ARMED_CLASH, V.TERRITORY_CHANGE)),
        (None, (V.ARMED_CLASH,)),
    ],
    # 2: a gunbattle; police firing to disperse demonstrators (repression, not a clash).
    ("FIGHT", "firearms"): [(r"\bdispers\w*", (V.REPRESSION,)), (None, (V.ARMED_CLASH,))],
    ("FIGHT", "explosives"): [(None, (V.BOMBING,))],  # 1 minefield explosion
    # 1: US Predator strikes killing al-Qaeda leaders.
    ("FIGHT", "assassinate"): [
        (r"\b(predators?|drones?|aircraft|air ?strikes?)\b", (V.AIRSTRIKE,)),
        (None, (V.ARMED_ATTACK,)),
    ],
    ("FIGHT", "deport"): [(None, (V.REPRESSION,))],  # 1 army forcing refugees from homes
    # 2: ethnic cleansing (violence against civilians); ceasefire violations by two sides.
    ("FIGHT", "other"): [(r"\bcleansing\b", (V.ARMED_ATTACK,)), (None, (V.ARMED_CLASH,))],
    # 4: three demonstrations/rallies and one signature drive (not a protest event).
    ("PROTEST", "demo-org"): [(r"\b(signatures?|petitions?)\b", ()), (None, (V.PROTEST,))],
    ("PROTEST", "demo-spon"): [(None, (V.PROTEST,))],  # 2
    ("PROTEST", "strike-gen"): [(None, (V.PROTEST,))],  # 3 general strikes
    ("PROTEST", "strike-hun"): [(None, (V.PROTEST,))],  # 6 hunger strikes
    # 6: five blockades by demonstrators or workers, one by rebels fighting the government.
    ("PROTEST", "obstruct"): [(r"\brebels?\b", ()), (None, (V.PROTEST,))],
    # 1: riot police dispersing demonstrators with tear gas: a protest met with force.
    ("PROTEST", "riot"): [(r"\bdispers\w*", (V.PROTEST, V.REPRESSION)), (None, (V.RIOT,))],
    ("PROTEST", "riot-spon"): [(None, (V.RIOT,))],  # 5 prison and street riots
    ("COERCE", "arrest"): [(None, (V.ARREST,))],  # 1
    # 2: rebels kidnapping advisers; an army holding refugees as human shields.
    ("COERCE", "detain"): [
        (r"\b(kidnap\w*|abduct\w*|hostages?|human shields?)\b", (V.KIDNAPPING,)),
        (None, (V.ARREST,)),
    ],
    # 3: power lines blown up, offices set on fire, homes bulldozed.
    ("COERCE", "destroy"): [(None, (V.ARSON_DESTRUCTION,))],
    # 2: police confiscating weapons and explosives; a state hacking computers.
    ("COERCE", "confiscate"): [
        (r"\b(weapons?|arms|explosives?|ammunition|guns?|rifles?)\b", (V.WEAPONS_SEIZURE,)),
        (None, ()),
    ],
    # 2: a newspaper suspended by the government; hackers defacing web sites.
    ("COERCE", "censor"): [(r"\b(hack\w*|cyber\w*)\b", ()), (None, (V.REPRESSION,))],
    ("COERCE", "ban"): [(None, (V.REPRESSION,))],  # 2 organisation, candidates banned
    ("COERCE", "curfew"): [(None, (V.REPRESSION,))],  # 1
    ("COERCE", "martial-law"): [(None, (V.REPRESSION,))],  # 1 state of siege
    ("COERCE", "restrict"): [(None, (V.REPRESSION,))],  # 2 demonstration stopped, blockade
    ("COERCE", "deport"): [(None, (V.REPRESSION,))],  # 1 mass deportation
    ("COERCE", "firearms"): [(None, (V.REPRESSION,))],  # 1 police firing on demonstrators
    ("THREATEN", "violence"): [(None, (V.THREAT_COERCION,))],  # 5 attacks, offensive, shelling
    # Threats of repression by a state: 2 curfew, 1 martial law, 1 "will not tolerate rallies".
    ("THREATEN", "curfew"): [(None, (V.THREAT_COERCION,))],
    ("THREATEN", "martial-law"): [(None, (V.THREAT_COERCION,))],
    ("THREATEN", "political"): [(None, (V.THREAT_COERCION,))],
    # 13 diplomatic or economic threats; one group making chemical and biological weapons.
    ("THREATEN", ""): [(r"\bweapons?\b", (V.THREAT_COERCION,)), (None, ())],
    ("THREATEN", "relations"): [(None, ())],  # 3 halting talks, mediation, inspections
    ("THREATEN", "restrict"): [(None, ())],  # 4 boycotts, a strike, a naval blockade
    # Cooperation, diplomacy and shows of force: no event of ours.
    **{
        (event, "*"): [(None, ())]
        for group in (
            "AGREE AID CONCEDE CONSULT COOPERATE DEMAND DISAPPROVE",
            "INVESTIGATE MOBILIZE REJECT RETREAT SANCTION SUPPORT",
        )
        for event in group.split()
    },
}

# Where a dataset's label for an event type follows another convention than ours in
# texts the cue (case-blind) matches, that type is left unknown for them: neither
# positive nor negative. SATP's ARMED_ASSAULT also marks exchanges of fire between
# forces and militants (192 of its 1,085 training texts match the cue, 144 of them
# ARMED_ASSAULT); our written texts mark those ARMED_CLASH and not ARMED_ATTACK.
UNKNOWN_WHERE: Mapping[tuple[str, EventType], str] = MappingProxyType(
    {
        ("satp", V.ARMED_ATTACK): (
            r"\b(exchange of fire|exchanged fire|encounters?|gun ?battles?|gunfights?|"
            r"fire ?fights?|retaliat\w*|returned (the )?fire|fired back|clash\w*)\b"
        ),
    }
)

MAPPING: Mapping[str, Mapping[str, Target]] = MappingProxyType(
    {name: MappingProxyType(rows) for name, rows in _TABLE.items()}
)


def lookup(table: str, label: str) -> Target:
    """The target of one upstream label; a label missing from the table is a bug upstream
    or here, so it fails loudly instead of being dropped."""
    try:
        return MAPPING[table][label]
    except KeyError:
        known = sorted(MAPPING.get(table, {}))
        raise KeyError(f"no mapping for {table} label {label!r}; known: {known}") from None


def _rules(rules: list[Rule]) -> str:
    parts = []
    for cue, events in rules:
        ours = " + ".join(e.value for e in events) or "(none)"
        parts.append(f"if the text matches `{cue}`: {ours}" if cue else ours)
    return "; else ".join(parts)


def markdown() -> str:
    """The mapping tables as Markdown, for data/README.md."""
    lines = ["| dataset | upstream label | ours | why |", "|---|---|---|---|"]
    for table, rows in MAPPING.items():
        for label, target in rows.items():
            lines.append(f"| {table} | {label} | {target.describe()} | {target.why} |")
    for (event, mode), rules in PLOVER_RULES.items():
        label = f"{event} / {mode or '(no mode)'}".replace("/ *", "/ any mode")
        lines.append(f"| plover | {label} | {_rules(rules).replace('|', chr(92) + '|')} |  |")
    for (table, event), cue in UNKNOWN_WHERE.items():
        cue = cue.replace("|", chr(92) + "|")
        lines.append(f"| {table} | (any) | {event.value} unknown if the text matches `{cue}` "
                     "| another convention than ours (UNKNOWN_WHERE) |")  # fmt: skip
    return "\n".join(lines)


# Coarse types a dataset annotates completely, so a record without one is a true negative
# for it (every SATP text is checked for any violence; nothing is checked for protests).
COARSE_COVERED: Mapping[str, tuple[CoarseType, ...]] = MappingProxyType(
    {"satp": (C.VIOLENCE,), "insightcrime": (C.VIOLENCE,)}
)


def event_labels(table: str) -> list[EventType]:
    """Every event type a table can produce, in schema order: what a dataset covers."""
    found = {e for t in MAPPING[table].values() for e in t.events}
    return [e for e in EventType if e in found]


def unknown_events(table: str, text: str) -> set[EventType]:
    """The event types this text leaves unknown under UNKNOWN_WHERE."""
    return {
        event
        for (name, event), cue in UNKNOWN_WHERE.items()
        if name == table and re.search(cue, text, re.IGNORECASE)
    }


def coarse_of(events: Iterable[EventType]) -> list[CoarseType]:
    """Coarse types of these event types, schema order; never NON_CONFLICT (see derive)."""
    found = {COARSE_OF[e] for e in events}
    return [c for c in CoarseType if c in found]


def derive(targets: list[Target]) -> tuple[list[EventType], list[CoarseType]]:
    """Event types and coarse types (schema order) of a text with these upstream labels.

    NON_CONFLICT is never derived here: an empty list only means no covered label fired,
    and no dataset covers every event type.
    """
    events = {e for t in targets for e in t.events}
    coarse = set(coarse_of(events)) | {c for t in targets for c in t.coarse}
    return [e for e in EventType if e in events], [c for c in CoarseType if c in coarse]
