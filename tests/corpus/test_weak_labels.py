import json
import re
from collections import Counter
from pathlib import Path

import pytest

from serving.schema import EventType
from training.corpus import convert_rare_events, weak_labels
from training.corpus.convert_rare_events import FILES, folder, load
from training.corpus.log import ConversionLog
from training.corpus.record import Coverage, LabelSet, Record, Source, Split
from training.corpus.splits import text_key
from training.corpus.weak_labels import (
    RARE_TYPES,
    RULES,
    SHARED_VETO,
    candidates,
    select,
    split_sentences,
    weak_sentence_events,
)

E = EventType

# Every fire cue must match at least one of its type's sentences (checked below).
POSITIVES: dict[EventType, list[str]] = {
    E.AIRSTRIKE: [
        "Coalition air strikes hit a depot near Mosul.",
        "An air raid on the market killed nine people.",
        "A drone strike killed two commanders in Shabwa.",
        "The aerial bombardment of the district went on all night.",
        "Warplanes pounded rebel positions east of the city.",
        "A helicopter strafed the camp of displaced persons.",
        "Fighter jets carried out strikes on camps in the forest.",
        "The air force bombed the northern neighbourhoods.",
        "The village was attacked from the air at dawn.",
    ],
    E.SHELLING_MISSILE: [
        "Troops shelled the outskirts of the town overnight.",
        "The city came under bombardment from the hills.",
        "Rocket fire hit the airport.",
        "Militants fired three mortar rounds at the base.",
        "A shell fell on a school in the old city.",
        "Government howitzers pounded the ridge for three days.",
    ],
    E.CHEMICAL_ATTACK: [
        "Doctors treated victims of the chemical attack in the suburb.",
        "Investigators said the regime used chemical weapons against civilians.",
        "Sarin killed dozens in the town.",
        "Helicopters dropped chlorine barrels on the district.",
        "The gas attack killed 30 people.",
        "The regime had used chlorine as a weapon.",
    ],
    E.SEXUAL_VIOLENCE: [
        "Soldiers raped two women at the checkpoint.",
        "The girl was sexually assaulted on her way home.",
        "A teacher was arrested for molesting pupils.",
        "The man was booked for outraging the modesty of a woman.",
        "The women were held as sex slaves.",
    ],
    E.PROTEST: [
        "Protesters gathered outside parliament.",
        "Demonstrators marched through the capital.",
        "Students staged a sit-in at the university.",
        "Workers held protests in three cities.",
        "Thousands took to the streets of Santiago.",
        "Anti-government protests spread to the south.",
        "The activist is on a hunger strike.",
        "Farmers held a protest march to the ministry.",
        "Thousands of farmers marched on the capital.",
        "Residents protested outside the police station.",
        "Dock workers went on strike for better pay.",
        "Villagers blocked the highway for hours to protest power cuts.",
    ],
    E.RIOT: [
        "Rioters burned cars in the city centre.",
        "Communal violence left six dead.",
        "An angry mob beat the driver.",
        "A mob attacked the police station.",
        "The man was lynched in the village square.",
        "Youths pelted stones at the police.",
        "Protesters clashed with the police near the bridge.",
        "The protest turned violent after dark.",
        "Villagers beat a suspected thief to death.",
        "Angry residents torched a bus after the accident.",
    ],
    E.TERRITORY_CHANGE: [
        "Rebels captured the town of Goma.",
        "The army took control of the district capital.",
        "The city fell to the rebels after a long siege.",
        "Government forces retook Palmyra from the jihadists.",
        "Troops expelled the militants from the last neighbourhood.",
        "The army withdrew from the provincial capital.",
    ],
    E.WEAPONS_SEIZURE: [
        "Police seized two rifles and ammunition from the house.",
        "Four AK-47 rifles were recovered from the spot.",
        "Soldiers found an arms cache in the forest.",
        "The army displayed weapons seized from the rebels.",
        "Guards found explosives hidden in a lorry.",
        "Militants raided the armoury of the police station.",
        "It was the largest haul of weapons this year.",
    ],
    E.ARMED_CLASH: [
        "Two soldiers died in a gun battle with rebels.",
        "An armed clash broke out near the border.",
        "Heavy fighting continued in the east.",
        "Fighting between the army and the rebels spread.",
        "Troops clashed with militants in the forest.",
        "Two rival gangs clashed in the market.",
        "Three insurgents were killed in clashes in the province.",
        "Soldiers and rebels fought for hours near the bridge.",
    ],
}

# (sentence, type it must NOT get); every mask and veto cue must match one (checked below).
GUARDS: list[tuple[str, EventType]] = [
    ("Air raid sirens were tested in the capital.", E.AIRSTRIKE),
    ("Warplanes flew over the no-fly zone.", E.AIRSTRIKE),
    ("Investors are shelling out more for bonds.", E.SHELLING_MISSILE),
    ("Police fired tear gas shells at the crowd.", E.SHELLING_MISSILE),
    ("A shell company was hit by sanctions.", E.SHELLING_MISSILE),
    ("The aerial bombardment lasted all night.", E.SHELLING_MISSILE),
    ("Voters were bombarded with messages about the poll.", E.SHELLING_MISSILE),
    ("A drone fired two missiles at the car.", E.SHELLING_MISSILE),
    ("Militants fired a rocket-propelled grenade at the truck.", E.SHELLING_MISSILE),
    ("The country test-fired a missile into the sea.", E.SHELLING_MISSILE),
    ("Helicopters fired rockets at the convoy.", E.SHELLING_MISSILE),
    ("Police tear-gassed the crowd.", E.CHEMICAL_ATTACK),
    ("The country must destroy its chemical weapons stockpile.", E.CHEMICAL_ATTACK),
    ("The anti-rape bill was passed.", E.SEXUAL_VIOLENCE),
    ("A campaign against sexual violence was launched.", E.SEXUAL_VIOLENCE),
    ("The survey found that rape rates had fallen.", E.SEXUAL_VIOLENCE),
    ("The ministry lodged a formal protest over the demonstration.", E.PROTEST),
    ("Candidates held election rallies across the country.", E.PROTEST),
    ("The army launched air strikes on the hills.", E.PROTEST),
    ("The rebels enforced an armed strike in the district.", E.PROTEST),
    ("The union asked for permission to hold a rally.", E.PROTEST),
    ("The union protested the decision in a statement.", E.PROTEST),
    ("Riot police were deployed in the capital.", E.RIOT),
    ("Riot victims are still living in camps.", E.RIOT),
    ("A herd of elephants went on a rampage and a mob gathered.", E.RIOT),
    ("The legal battle between the two firms went on.", E.ARMED_CLASH),
    ("Protesters clashed with the police.", E.ARMED_CLASH),
    ("Police found bullet casings near the body.", E.WEAPONS_SEIZURE),
    ("Ten percent of the seized guns came from abroad.", E.WEAPONS_SEIZURE),
    # shared vetoes: threats, plans, the future, denials, things called off
    ("The union threatened to go on strike.", E.PROTEST),
    ("The minister denied that jets bombed the village.", E.AIRSTRIKE),
    ("The march was called off after the rain.", E.PROTEST),
]


@pytest.mark.parametrize(("event", "sentence"), [(e, s) for e, ss in POSITIVES.items() for s in ss])
def test_rule_fires(event: EventType, sentence: str) -> None:
    assert event in weak_sentence_events(sentence)


@pytest.mark.parametrize(("sentence", "event"), GUARDS)
def test_guard_holds(sentence: str, event: EventType) -> None:
    assert event not in weak_sentence_events(sentence)


def test_every_cue_is_exercised() -> None:
    """A cue no example exercises is untested: add an example when adding a cue."""
    for event, rules in RULES.items():
        texts = [s.lower() for s in POSITIVES[event]]
        for cue in rules.fire:
            assert any(re.search(cue.pattern, t) for t in texts), (event, cue.pattern)
        guards = [s.lower() for s, e in GUARDS if e is event]
        for cue in rules.mask + rules.veto:
            assert any(re.search(cue.pattern, t) for t in guards), (event, cue.pattern)
    every = [s.lower() for s, _ in GUARDS]
    for cue in SHARED_VETO:
        assert any(re.search(cue.pattern, t) for t in every), cue.pattern


def test_rules_are_case_blind_and_cover_only_rare_types() -> None:
    assert weak_sentence_events("PROTESTERS MARCHED.") == [E.PROTEST]
    assert set(RARE_TYPES) == set(RULES)
    assert weak_sentence_events("Gunmen shot a trader at the market.") == []


def test_markdown_lists_every_cue() -> None:
    table = weak_labels.markdown()
    n_cues = sum(len(r.fire) + len(r.mask) + len(r.veto) for r in RULES.values())
    assert table.count("\n") == 1 + n_cues + len(SHARED_VETO)


def test_split_sentences() -> None:
    text = "Gen. Ochoa said so. J. Smith agreed! Then they left.\nA new line"
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "Gen. Ochoa said so.",
        "J. Smith agreed!",
        "Then they left.",
        "A new line",
    ]
    # Cased text does not end a sentence before a lower-case letter; lower-cased text must.
    assert len(split_sentences("It was 3 p.m. on Friday. no. it was not")) == 1
    assert len(split_sentences("the army left.  rebels came in.", cased=False)) == 2


def _weak_data(tiny_data: Path) -> None:
    """SATP lines with rare-event sentences; the dev file repeats one train sentence."""
    with (tiny_data / "satp" / "train.tsv").open("a", encoding="utf-8") as f:
        f.write(
            "Warplanes bombed the market in Miranshah. Troops and militants exchanged fire "
            "near the post. Protesters marched to the district office.\t0\t0\t0\t0\n"
        )
    with (tiny_data / "satp" / "dev.tsv").open("a", encoding="utf-8") as f:
        f.write("Protesters marched to the district office.\t0\t0\t0\t0\n")
        f.write("Rebels shelled the town in the dev split.\t0\t0\t0\t0\n")


def test_weak_collection_is_train_only_and_well_formed(tiny_data: Path) -> None:
    _weak_data(tiny_data)
    log = ConversionLog()
    records = list(weak_labels.convert(tiny_data, log))
    assert records, "the tiny data has sentences the rules fire on"
    for r in records:
        assert r.collection == "weak_events" and r.split is Split.TRAIN
        assert r.events and set(r.events) <= set(RARE_TYPES)
        assert r.annotated == [
            Coverage(
                label_set=LabelSet.EVENTS,
                labels=[e.value for e in RARE_TYPES],
                exhaustive=False,
            )
        ]
        origin_id, offset = r.source.upstream_id.rsplit("#", 1)
        assert r.id == f"weak_events/{origin_id}#{offset}"
        assert origin_id.split("/")[0] in weak_labels.SOURCE_COLLECTIONS
    texts = {r.text: r.events for r in records}
    assert texts["Warplanes bombed the market in Miranshah."] == [E.AIRSTRIKE]
    assert texts["Troops and militants exchanged fire near the post."] == [E.ARMED_CLASH]
    # The dev sentence is a copy of a train sentence: kept out of training.
    assert "Protesters marched to the district office." not in texts
    assert "Rebels shelled the town in the dev split." not in texts
    assert log.resolved[("weak_events", "dropped_copy_of_dev_or_test_text")] >= 1
    dev_keys = {text_key(r.text) for r in load(folder() / FILES[Split.DEV], Split.DEV)}
    assert not dev_keys & {text_key(t) for t in texts}


def _record(n: int, text: str) -> Record:
    return Record(
        id=f"satp/train/{n}",
        collection="satp",
        split=Split.TRAIN,
        text=text,
        source=Source(dataset="satp", file="satp/train.tsv", upstream_id=str(n)),
        annotated=[],
    )


def test_cap_keeps_rarest_types_whole_and_is_deterministic() -> None:
    texts = [f"Protesters marched in town number {i}." for i in range(5)]
    texts += ["Protesters and rioters filled the square.", "Rebels shelled the village."]
    records = [_record(i, t) for i, t in enumerate(texts)]
    found = candidates(records, ConversionLog())
    chosen = select(found, cap=2)
    counts = Counter(e for c in chosen for e in c.events)
    assert counts[E.RIOT] == 1 and counts[E.SHELLING_MISSILE] == 1
    assert counts[E.PROTEST] == 2  # the riot sentence counts towards the protest cap
    assert [c.key for c in chosen] == [c.key for c in select(list(reversed(found)), cap=2)][::-1]


def test_rare_events_files_load_and_cover_every_rare_type() -> None:
    train = load(folder() / FILES[Split.TRAIN], Split.TRAIN)
    dev = load(folder() / FILES[Split.DEV], Split.DEV)
    dev_counts = Counter(e for r in dev for e in r.events)
    for event in RARE_TYPES:
        assert dev_counts[event] >= 8, event
    assert sum(not r.events for r in dev) >= 15, "dev needs hard negatives"
    assert sum(not r.events for r in train) >= 15, "train needs hard negatives"
    train_keys = {text_key(r.text) for r in train}
    assert not [r.text for r in dev if text_key(r.text) in train_keys]
    assert len({text_key(r.text) for r in dev}) == len(dev)
    converted = list(convert_rare_events.convert(Path("/unused"), ConversionLog()))
    assert len(converted) == len(train) + len(dev)


def test_rare_events_errors_name_file_and_line(tmp_path: Path) -> None:
    good = (folder() / FILES[Split.DEV]).read_text(encoding="utf-8").splitlines()[0]
    row = json.loads(good)
    row["coarse"] = []
    bad = tmp_path / "dev.jsonl"
    bad.write_text(good + "\n" + json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"dev\.jsonl:2 .*coarse must be \['VIOLENCE'\]"):
        load(bad, Split.DEV)
    bad.write_text(good + "\n" + good + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"dev\.jsonl:2 .*already used on line 1"):
        load(bad, Split.DEV)
    with pytest.raises(ValueError, match=r"dev\.jsonl:1 .*split is 'dev' in the train file"):
        load(bad, Split.TRAIN)
    bad.write_text('{"id": "x"}\n', encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"dev\.jsonl:1 \(record .x.\): collection: Field required"
    ):
        load(bad, Split.DEV)


def test_both_converters_register_in_build(
    tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training.corpus import build

    extra = tuple(m for m in (convert_rare_events, weak_labels) if m not in build.CONVERTERS)
    monkeypatch.setattr(build, "CONVERTERS", (*build.CONVERTERS, *extra))
    by = build.convert_all(tiny_data).by_collection()
    assert by["weak_events"] and by["rare_events"]
    assert {r.split for r in by["weak_events"]} == {Split.TRAIN}
