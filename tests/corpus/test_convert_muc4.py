"""MUC-4 converter on invented GTT-format samples, plus one slow run on the real files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from serving.schema import CoarseType, EntityType, EventType, Muc4Incident, Muc4Role, Role
from training.corpus.convert_muc4 import (
    EVENT_OF_INCIDENT,
    ROLE_OF_SLOT,
    Candidate,
    conflibert_docids,
    convert,
    is_weapon_name,
    parse_incidents,
    resolve_overlaps,
    template_spans,
)
from training.corpus.log import ConversionLog
from training.corpus.record import Filler, LabelSet, Mention, Record, Split, Template

TEXT = (
    "armed men of the red dawn front attacked the water plant in vilora with a car bomb. "
    "the men also kidnapped the plant manager, juan ortiz."
)


def at(text: str, mention: str, nth: int = 0) -> list[Any]:
    """A GTT mention: [text, char offset] of the nth occurrence."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(mention, start + 1)
    return [mention, start]


def template(incident: str, **slots: list[list[list[Any]]]) -> dict[str, Any]:
    return {"incident_type": incident, **{r.value: slots.get(r.value, []) for r in Muc4Role}}


def write_gtt(root: Path, docs: dict[str, list[dict[str, Any]]]) -> Path:
    """Write split name -> documents as GTT JSON lines under root/muc4."""
    (root / "muc4").mkdir(parents=True, exist_ok=True)
    for name in ("train", "dev", "test"):
        lines = [json.dumps(d) for d in docs.get(name, [])]
        (root / "muc4" / f"{name}.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def convert_one(tmp_path: Path, doc: dict[str, Any]) -> tuple[Record, ConversionLog]:
    log = ConversionLog()
    records = list(convert(write_gtt(tmp_path, {"dev": [doc]}), log))
    assert len(records) == 1
    return records[0], log


def test_parse_incidents_splits_combined_types_in_upstream_order() -> None:
    assert parse_incidents("bombing / attack") == [Muc4Incident.BOMBING, Muc4Incident.ATTACK]
    assert parse_incidents("attack / bombing") == [Muc4Incident.ATTACK, Muc4Incident.BOMBING]
    assert parse_incidents("forced work stoppage") == [Muc4Incident.FORCED_WORK_STOPPAGE]
    with pytest.raises(ValueError, match="unknown MUC-4 incident type 'riot'"):
        parse_incidents("attack / riot")


def test_tables_cover_every_upstream_label() -> None:
    assert set(EVENT_OF_INCIDENT) == set(Muc4Incident)
    assert set(ROLE_OF_SLOT) == set(Muc4Role)
    assert EVENT_OF_INCIDENT[Muc4Incident.FORCED_WORK_STOPPAGE] is EventType.THREAT_COERCION


@pytest.mark.parametrize(
    ("mention", "expected"),
    [
        ("bomb", True),
        ("car bomb", True),
        ("dynamite sticks", True),
        ("ak-47 and m-16 rifles", True),
        ("machetes, axes", True),
        ("12 kg of dynamite", True),
        ("truck", False),
        ("helicopter gunships", False),
        ("bomb attacks", False),
        ("machinegun fire", False),
        ("torture", False),
    ],
)
def test_is_weapon_name(mention: str, expected: bool) -> None:
    assert is_weapon_name(mention) is expected


def test_convert_builds_templates_spans_and_labels(tmp_path: Path) -> None:
    doc = {
        "docid": "DEV-X-0001",
        "doctext": TEXT,
        "templates": [
            template(
                "bombing / attack",
                PerpInd=[[at(TEXT, "armed men"), at(TEXT, "men", 1)]],
                PerpOrg=[[at(TEXT, "red dawn front")]],
                Target=[[at(TEXT, "water plant")]],
                Weapon=[[at(TEXT, "car bomb")]],
            ),
            template("kidnapping", Victim=[[at(TEXT, "juan ortiz")]]),
        ],
    }
    rec, log = convert_one(tmp_path, doc)

    assert rec.id == "muc4/DEV-X-0001"
    assert rec.split is Split.DEV
    assert rec.text == TEXT
    assert rec.source.file == "muc4/dev.json"
    assert rec.source.upstream_id == "DEV-X-0001"
    assert rec.source.lowercased
    first = rec.templates[0]
    assert first.incident_type == "bombing / attack"
    assert first.incidents == [Muc4Incident.BOMBING, Muc4Incident.ATTACK]
    assert first.events == [EventType.ARMED_ATTACK, EventType.BOMBING]
    assert [m.text for m in first.fillers[0].mentions] == ["armed men", "men"]
    for t in rec.templates:
        for f in t.fillers:
            assert all(rec.span_text(m) == m.text for m in f.mentions)
    assert rec.events == [EventType.ARMED_ATTACK, EventType.BOMBING, EventType.KIDNAPPING]
    assert rec.coarse == [CoarseType.VIOLENCE]
    assert rec.tasks.muc4_incident == ["attack", "bombing", "kidnapping"]

    spans = {rec.span_text(s): (s.role, s.entity) for s in rec.spans}
    assert spans == {
        "armed men": (Role.PERP_IND, None),
        "men": (Role.PERP_IND, None),
        "red dawn front": (Role.PERP_ORG, None),
        "water plant": (Role.PHYS_TARGET, None),
        "car bomb": (Role.INSTRUMENT, EntityType.WEAPON),
        "juan ortiz": (Role.VICTIM, None),
    }
    assert not log.problems


def test_coverage(tmp_path: Path) -> None:
    rec, _ = convert_one(tmp_path, {"docid": "D", "doctext": TEXT, "templates": []})
    roles = rec.coverage(LabelSet.ROLES)
    assert roles is not None and roles.exhaustive
    assert roles.labels == ["PERP_IND", "PERP_ORG", "PHYS_TARGET", "VICTIM", "INSTRUMENT"]
    entities = rec.coverage(LabelSet.ENTITIES)
    assert entities is not None and entities.labels == ["WEAPON"] and not entities.exhaustive
    events = rec.coverage(LabelSet.EVENTS)
    assert events is not None and events.exhaustive
    assert set(events.labels) == {e.value for e in EVENT_OF_INCIDENT.values()}
    incidents = rec.coverage(LabelSet.MUC4_INCIDENT)
    assert incidents is not None and len(incidents.labels) == len(Muc4Incident)
    templates = rec.coverage(LabelSet.MUC4_TEMPLATES)
    assert templates is not None and templates.labels == [r.value for r in Muc4Role]


def test_document_without_templates_is_a_negative(tmp_path: Path) -> None:
    rec, _ = convert_one(tmp_path, {"docid": "D", "doctext": TEXT, "templates": []})
    assert rec.events == [] and rec.spans == [] and rec.templates == []
    # NON_CONFLICT is never derived from data: MUC-4 does not cover every event type.
    assert rec.coarse == []
    assert rec.tasks.muc4_incident == []


def test_offset_mismatch_drops_the_mention_and_empty_entities(tmp_path: Path) -> None:
    good = at(TEXT, "water plant")
    doc = {
        "docid": "D",
        "doctext": TEXT,
        "templates": [
            template(
                "attack",
                Target=[[good, ["water plant", good[1] + 3]]],
                Victim=[[["juan ortiz", 2]]],
            )
        ],
    }
    rec, log = convert_one(tmp_path, doc)
    kinds = [p.kind for p in log.problems]
    assert kinds == ["offset_mismatch", "offset_mismatch", "filler_without_mentions"]
    assert log.problems[0].where == "D template 0"
    fillers = rec.templates[0].fillers
    assert [(f.role, [m.text for m in f.mentions]) for f in fillers] == [
        (Muc4Role.TARGET, ["water plant"])
    ]
    assert [rec.span_text(s) for s in rec.spans] == ["water plant"]


def test_identical_span_keeps_the_role_of_the_first_template(tmp_path: Path) -> None:
    doc = {
        "docid": "D",
        "doctext": TEXT,
        "templates": [
            template("attack", Target=[[at(TEXT, "water plant")]]),
            template("bombing", Victim=[[at(TEXT, "water plant")]]),
            template("arson", Target=[[at(TEXT, "water plant")]]),
        ],
    }
    rec, log = convert_one(tmp_path, doc)
    assert [(rec.span_text(s), s.role) for s in rec.spans] == [("water plant", Role.PHYS_TARGET)]
    assert log.resolved[("muc4", "role_identical_conflict")] == 1
    assert log.resolved[("muc4", "role_identical_same")] == 1
    # The templates keep every filler for role-filler scoring.
    assert [f.role for t in rec.templates for f in t.fillers] == [
        Muc4Role.TARGET,
        Muc4Role.VICTIM,
        Muc4Role.TARGET,
    ]


def test_nested_and_crossing_spans_keep_the_longer(tmp_path: Path) -> None:
    doc = {
        "docid": "D",
        "doctext": TEXT,
        "templates": [
            template(
                "attack",
                PerpInd=[[at(TEXT, "armed men of the red dawn front")]],
                PerpOrg=[[at(TEXT, "red dawn front")]],
                Target=[[at(TEXT, "water plant in vilora")], [at(TEXT, "vilora with")]],
            )
        ],
    }
    rec, log = convert_one(tmp_path, doc)
    assert [(rec.span_text(s), s.role) for s in rec.spans] == [
        ("armed men of the red dawn front", Role.PERP_IND),
        ("water plant in vilora", Role.PHYS_TARGET),
    ]
    assert log.resolved[("muc4", "role_nested_conflict")] == 1
    assert log.resolved[("muc4", "role_crossing_same")] == 1


def test_weapon_layer_is_resolved_apart_from_roles(tmp_path: Path) -> None:
    text = "two men carrying rifles fired at the bus."
    doc = {
        "docid": "D",
        "doctext": text,
        "templates": [
            template(
                "attack",
                PerpInd=[[at(text, "two men carrying rifles")]],
                Weapon=[[at(text, "rifles")], [at(text, "bus")]],
            )
        ],
    }
    rec, log = convert_one(tmp_path, doc)
    spans = [(rec.span_text(s), s.role, s.entity) for s in rec.spans]
    assert spans == [
        ("two men carrying rifles", Role.PERP_IND, None),
        ("rifles", None, EntityType.WEAPON),  # the role lost to the longer span
        ("bus", Role.INSTRUMENT, None),  # a Weapon filler that names no weapon
    ]
    assert log.resolved[("muc4", "role_nested_conflict")] == 1
    assert log.resolved[("muc4", "weapon_filler_not_a_weapon_name")] == 1


def test_resolve_overlaps_ties_go_to_the_earlier_start() -> None:
    log = ConversionLog()
    cands = [Candidate(4, 8, Role.VICTIM), Candidate(2, 6, Role.VICTIM)]
    kept = resolve_overlaps(cands, log, "role")
    assert [(c.start, c.end) for c in kept] == [(2, 6)]
    assert log.resolved[("muc4", "role_crossing_same")] == 1


def test_unknown_incident_type_fails_loudly(tmp_path: Path) -> None:
    doc = {"docid": "D", "doctext": TEXT, "templates": [template("riot")]}
    with pytest.raises(ValueError, match="EVENT_OF_INCIDENT"):
        convert_one(tmp_path, doc)


def test_conflibert_docids(tmp_path: Path) -> None:
    folder = tmp_path / "muc4" / "conflibert"
    folder.mkdir(parents=True)
    for name, ids in {"train": ["A", "B"], "dev": ["C"], "test": []}.items():
        docs = {i: {"doc": "TEXT", "roles": "{}"} for i in ids}
        (folder / f"{name}.json").write_text(json.dumps(docs), encoding="utf-8")
    assert conflibert_docids(tmp_path) == {
        Split.TRAIN: {"A", "B"},
        Split.DEV: {"C"},
        Split.TEST: set(),
    }


@pytest.mark.slow
def test_real_muc4(real_data: Path) -> None:
    root = real_data
    log = ConversionLog()
    records = list(convert(root, log))
    counts = {s: sum(r.split is s for r in records) for s in Split}
    assert counts == {Split.TRAIN: 1300, Split.DEV: 200, Split.TEST: 200}
    assert len({r.id for r in records}) == len(records)
    for rec in records:
        Record.model_validate(rec.model_dump())
        for t in rec.templates:
            assert all(rec.span_text(m) == m.text for f in t.fillers for m in f.mentions)
    assert sum(not r.templates for r in records if r.split is Split.TRAIN) == 600
    assert not log.skipped("muc4"), "GTT offsets all matched when this test was written"
    gtt = {s: {r.source.upstream_id for r in records if r.split is s} for s in Split}
    assert conflibert_docids(root) == gtt


def test_repeated_mentions_get_the_role_of_the_marked_one() -> None:
    text = "the fmln attacked. later the fmln fled; fmlnx is no match."
    log = ConversionLog()
    fmln = Mention(text="the fmln", start=0, end=8)
    template = Template(
        incident_type="attack", incidents=[Muc4Incident.ATTACK], events=[EventType.ARMED_ATTACK],
        fillers=[Filler(role=Muc4Role.PERP_ORG, mentions=[fmln])],
    )  # fmt: skip
    spans = template_spans([template], text, log)
    assert [(text[s.start : s.end], s.role) for s in spans] == [
        ("the fmln", Role.PERP_ORG),
        ("the fmln", Role.PERP_ORG),
    ]
    assert log.resolved[("muc4", "role_mention_repeated")] == 1
