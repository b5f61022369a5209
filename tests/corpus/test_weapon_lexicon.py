"""The weapon and platform lexicon: longest names, context rules, offsets."""

import pytest

from serving.schema import EntityType
from training.corpus.record import Coverage, LabelSet, Record, Source, Split
from training.corpus.weapon_lexicon import find, with_weapons


def spans(text: str) -> list[tuple[str, str]]:
    return [(text[f.start : f.end], f.label) for f in find(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Russia fired Iskander ballistic missiles and Shahed drones at Kharkiv.",
         [("Iskander ballistic missiles", "WEAPON"), ("Shahed drones", "MIL_PLATFORM")]),
        ("Gunmen on motorcycles fired rocket - propelled grenades.",
         [("motorcycles", "VEHICLE"), ("rocket - propelled grenades", "WEAPON")]),
        ("Turkish F-16 jets struck PKK positions.", [("F-16 jets", "MIL_PLATFORM")]),
        ("A car bomb exploded near the bus station.", [("car bomb", "WEAPON")]),
        ("A price war and a bombshell report hit the think tank.", []),
        ("Prices rocketed and the army shelled nothing; the bombing was condemned.", []),
        ("They left the car park in a truck.", [("truck", "VEHICLE")]),
    ],
)  # fmt: skip
def test_find(text: str, expected: list[tuple[str, str]]) -> None:
    assert spans(text) == expected


def _record(text: str, annotated: list[Coverage]) -> Record:
    return Record(
        id="satp/train/1", collection="satp", split=Split.TRAIN, text=text,
        source=Source(dataset="satp", file="satp/train.tsv", upstream_id="1"),
        annotated=annotated,
    )  # fmt: skip


def test_weak_labels_only_where_no_entities_are_annotated() -> None:
    text = "Militants hurled grenades at an armoured vehicle in Srinagar."
    weak = with_weapons(_record(text, []))
    assert [(weak.span_text(s), s.entity) for s in weak.spans] == [
        ("grenades", EntityType.WEAPON), ("armoured vehicle", EntityType.MIL_PLATFORM),
    ]  # fmt: skip
    cover = weak.coverage(LabelSet.ENTITIES)
    # Non-exhaustive: unmarked tokens are not taught O, and PER, ORG, LOC stay unknown.
    assert cover is not None and not cover.exhaustive
    assert set(cover.labels) == {"WEAPON", "MIL_PLATFORM", "VEHICLE"}
    gold = _record(text, [Coverage(label_set=LabelSet.ENTITIES, labels=["PER"])])
    assert with_weapons(gold) is gold
    plain = _record("Talks resumed in Delhi.", [])
    assert with_weapons(plain) is plain
