"""PLOVER converter on invented records, plus one slow run on the real file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from serving.schema import CoarseType, EventType, Role
from training.corpus.convert_plover import (
    PLOVER_RULES,
    CameoTest,
    actor_roles,
    convert,
    event_rule,
    find_actor,
    plover_split,
    read_cameo_test,
    table_event_types,
)
from training.corpus.log import ConversionLog
from training.corpus.record import LabelSet, Record, Split
from training.corpus.splits import cameo_split, hash_split, text_key

CAMEO_TEST = [
    "Rebel forces shelled the northern town of Aldera on Monday, officials said.\t4",
    "The Ostland army arrested 40 students in the capital, witnesses said.\t4",
]


def events(event: str, mode: str | None, text: str) -> tuple[EventType, ...]:
    return event_rule(event, mode, text)[1]


def write_data(root: Path, records: list[dict[str, Any]]) -> Path:
    (root / "plover").mkdir(parents=True)
    (root / "cameo" / "class").mkdir(parents=True)
    doc = {"id": "PLOVER-TEST-DOCUMENT-0001", "event": "DOCUMENT", "eventText": "notes"}
    text = json.dumps([doc, *records], indent=1)
    (root / "plover" / "PLOVER_GSR_CAMEO.txt").write_text(text, encoding="utf-8")
    cameo = "\n".join(CAMEO_TEST) + "\n"
    (root / "cameo" / "class" / "test.tsv").write_text(cameo, encoding="utf-8")
    return root


def actor(text: str) -> dict[str, str]:
    return {"actorText": text, "code": "XXX"}


def test_event_rules_read_the_text_where_a_mode_lumps_types() -> None:
    heavy = ("FIGHT", "heavy-weapons")
    assert events(*heavy, "Ostland aircraft bombed the camp.") == (EventType.AIRSTRIKE,)
    assert events(*heavy, "Rebels shelled the town.") == (EventType.SHELLING_MISSILE,)
    assert events(*heavy, "Troops captured the ridge after a battle.") == (
        EventType.ARMED_CLASH,
        EventType.TERRITORY_CHANGE,
    )
    assert events(*heavy, "Fierce fighting went on all day.") == (EventType.ARMED_CLASH,)
    confiscate = ("COERCE", "confiscate")
    assert events(*confiscate, "Police confiscated WEAPONS.") == (EventType.WEAPONS_SEIZURE,)
    assert events(*confiscate, "Police confiscated passports.") == ()
    assert events("COERCE", "detain", "Rebels kidnapped two engineers.") == (EventType.KIDNAPPING,)
    assert events("COERCE", "detain", "Police detained two engineers.") == (EventType.ARREST,)
    assert events("PROTEST", "riot-spon", "Inmates rioted.") == (EventType.RIOT,)
    assert events("ASSAULT", "explosives", "A bomb went off.") == (EventType.BOMBING,)


def test_missing_mode_and_empty_mode_are_the_same() -> None:
    assert event_rule("THREATEN", None, "x") == event_rule("THREATEN", "", "x")
    assert events("THREATEN", None, "They will use chemical weapons.") == (
        EventType.THREAT_COERCION,
    )
    assert events("THREATEN", "", "They threatened to cut aid.") == ()


def test_events_of_no_interest_map_to_nothing_under_any_mode() -> None:
    assert events("AGREE", None, "x") == ()
    assert events("MOBILIZE", "troops", "x") == ()


def test_unknown_code_fails_loudly() -> None:
    with pytest.raises(ValueError, match="no PLOVER_RULES entry for PLOVER event 'FIGHT'"):
        event_rule("FIGHT", "cavalry", "x")


def test_table_is_well_formed() -> None:
    for key, rules in PLOVER_RULES.items():
        assert rules[-1][0] is None, f"{key} needs a last rule without a cue"
        assert all(r[0] is not None for r in rules[:-1]), key
    produced = table_event_types()
    assert produced == [e for e in EventType if e in set(produced)]
    assert EventType.CRIME not in produced


@pytest.mark.parametrize(
    ("text", "actor_text", "expected"),
    [
        ("Ostland and Westria met.", "Westria", "Westria"),
        ("the ostland army moved.", "Ostland Army", "ostland army"),
        (
            "NATO peacekeeping troops arrived.",
            "NATO  peacekeeping troops",
            "NATO peacekeeping troops",
        ),
        ("Iraqi Kurds want independence from Iraq.", "Iraq", "Iraq"),
    ],
)
def test_find_actor(text: str, actor_text: str, expected: str) -> None:
    place = find_actor(text, actor_text)
    assert place is not None
    assert text[place[0] : place[1]] == expected
    assert place[0] == text.rfind(expected)


def test_find_actor_skips_taken_places_and_missing_actors() -> None:
    text = "Westrian Islamic Front rejected a Westrian plan."
    first = find_actor(text, "Westrian Islamic Front")
    assert first == (0, 22)
    assert find_actor(text, "Westrian", [first]) == (34, 42)
    assert find_actor(text, "Ostland ... army") is None


def test_reciprocal_actors_from_markup_and_from_both_lists() -> None:
    log = ConversionLog()
    raw = {
        "id": "R1",
        "source": [actor("Ostland"), actor("Westria")],
        "target": "",
        "textInfo": {"markup": "(SRC/TAR: Ostland) and (SRC/TAR: Westria) (EVT: met)"},
    }
    assert actor_roles(raw, log) == [
        ("Ostland", Role.RECIPROCAL_ACTOR),
        ("Westria", Role.RECIPROCAL_ACTOR),
    ]
    raw = {
        "id": "R2",
        "source": [actor("Ostland"), actor("Westria")],
        "target": [actor("ostland"), actor("Nordia")],
        "textInfo": "(SRC: Ostland) and (SRC: Westria) (EVT: warned) (TAR: Nordia)",
    }
    assert actor_roles(raw, log) == [
        ("Ostland", Role.RECIPROCAL_ACTOR),
        ("Westria", Role.SOURCE_ACTOR),
        ("Nordia", Role.TARGET_ACTOR),
    ]
    assert log.resolved[("plover", "actor_reciprocal_from_markup")] == 2
    assert log.resolved[("plover", "actor_source_and_target")] == 1


def test_cameo_split_rule() -> None:
    keys = {text_key(line.rsplit("\t", 1)[0]) for line in CAMEO_TEST}
    copy = "rebel forces shelled the northern town of ALDERA on Monday officials said"
    assert cameo_split(copy, keys) is Split.TEST
    other = "Farmers in Ostland agreed to share water from the river."
    expected = hash_split(text_key(other), {Split.TRAIN: 0.9, Split.DEV: 0.1})
    assert cameo_split(other, keys) is expected is not Split.TEST


def test_near_copies_of_cameo_test_sentences_go_to_test(tmp_path: Path) -> None:
    cameo = read_cameo_test(write_data(tmp_path, []))
    assert isinstance(cameo, CameoTest) and len(cameo.keys) == 2
    log = ConversionLog()
    edited = "Rebel forces shelled the northern town of Belmora on Monday, officials said."
    assert plover_split(edited, cameo, log) is Split.TEST
    assert log.resolved[("plover", "split_near_copy_of_cameo_test")] == 1
    other = "Farmers in Ostland agreed to share water from the river."
    assert plover_split(other, cameo, log) is not Split.TEST
    assert log.resolved[("plover", "split_near_copy_of_cameo_test")] == 1


def test_convert(tmp_path: Path) -> None:
    shelling = "Rebel forces shelled the northern town of Aldera on Monday, officials said."
    arrest = "The Ostland army arrested 40 students in the capital, witnesses said."
    records: list[dict[str, Any]] = [
        {
            "id": "PLOVER-T-0001",
            "event": "FIGHT",
            "mode": "heavy-weapons",
            "text": shelling,
            "source": [actor("Rebel forces")],
            "target": [actor("Aldera"), actor("Westrian army")],
            "textInfo": {"markup": "(SRC: Rebel forces) (EVT: shelled) (TAR: Aldera)"},
        },
        {
            "id": "PLOVER-T-0001",  # upstream reuses an id for another sentence
            "event": "COERCE",
            "mode": "arrest",
            "text": arrest,
            "source": [actor("Ostland army")],
            "target": "diplomatic",
            "textInfo": {"markup": "The (SRC: Ostland army) (EVT: arrested) 40 students"},
        },
        {"id": "PLOVER-T-0002", "event": "AGREE", "text": "Farmers agreed to share water."},
    ]
    log = ConversionLog()
    out = list(convert(write_data(tmp_path, records), log))

    assert [r.id for r in out] == [
        "plover/PLOVER-T-0001",
        "plover/PLOVER-T-0001#2",
        "plover/PLOVER-T-0002",
    ]
    assert [r.source.upstream_id for r in out] == [
        "PLOVER-T-0001",
        "PLOVER-T-0001",
        "PLOVER-T-0002",
    ]
    first, second, third = out
    assert first.collection == "plover" and first.text == shelling
    assert first.source.file == "plover/PLOVER_GSR_CAMEO.txt"
    assert first.split is Split.TEST and second.split is Split.TEST
    assert first.events == [EventType.SHELLING_MISSILE]
    assert first.coarse == [CoarseType.VIOLENCE]
    assert [(first.span_text(s), s.role) for s in first.spans] == [
        ("Rebel forces", Role.SOURCE_ACTOR),
        ("Aldera", Role.TARGET_ACTOR),
    ]
    assert second.events == [EventType.ARREST]
    assert [(second.span_text(s), s.role) for s in second.spans] == [
        ("Ostland army", Role.SOURCE_ACTOR)
    ]
    assert third.events == [] and third.coarse == []

    coverage = first.coverage(LabelSet.EVENTS)
    assert coverage is not None and not coverage.exhaustive
    assert coverage.labels == [e.value for e in table_event_types()]
    roles = first.coverage(LabelSet.ROLES)
    assert roles is not None and not roles.exhaustive
    assert roles.labels == ["SOURCE_ACTOR", "TARGET_ACTOR", "RECIPROCAL_ACTOR"]

    assert log.resolved[("plover", "document_record_skipped")] == 1
    assert log.resolved[("plover", "duplicate_upstream_id")] == 1
    assert log.resolved[("plover", "event_by_text_cue:FIGHT/heavy-weapons")] == 1
    assert [(p.where, p.kind) for p in log.problems] == [
        ("PLOVER-T-0001", "span_not_found"),
        ("PLOVER-T-0001", "bad_actor_field"),
    ]


@pytest.mark.slow
def test_real_plover(real_data: Path) -> None:
    from training.corpus.convert_cameo import test_keys

    root = real_data
    log = ConversionLog()
    records = list(convert(root, log))
    assert len(records) == 322
    assert len({r.id for r in records}) == 322
    for rec in records:
        Record.model_validate(rec.model_dump())
        assert all(rec.span_text(s).strip() for s in rec.spans)
    cameo = read_cameo_test(root)
    assert cameo.keys == test_keys(root), "PLOVER must read the CAMEO test set as CAMEO does"
    exact = sum(text_key(r.text) in cameo.keys for r in records)
    near = log.resolved[("plover", "split_near_copy_of_cameo_test")]
    assert (exact, near) == (262, 60)
    assert sum(r.split is Split.TEST for r in records) == exact + near
    assert log.resolved[("plover", "document_record_skipped")] == 1
    assert {p.kind for p in log.skipped("plover")} <= {"span_not_found", "bad_actor_field"}
