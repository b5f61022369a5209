"""The written news: phrases become offsets, and every wrong line is named."""

import json
from pathlib import Path

import pytest

from training.corpus.convert_written import files, load, to_record

TEXT = "Rockets hit Erbil. Officials said rockets from Iran hit Erbil again."


def line(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "t-1", "split": "train", "style": "wire", "text": TEXT,
        "entities": [["Rockets", "WEAPON"], ["Erbil", "LOC"], ["rockets", "WEAPON"],
                     ["Iran", "LOC"], ["Erbil", "LOC", 2]],
        "roles": [["Rockets", "INSTRUMENT"]],
        "events": ["SHELLING_MISSILE"],
    }  # fmt: skip
    return base | changes


def test_phrases_become_offsets_and_the_nth_occurrence_counts() -> None:
    record = to_record(line(), "x.jsonl")
    marked = [(record.span_text(s), s.entity, s.role) for s in record.spans]
    assert [(t, e.value if e else None, r.value if r else None) for t, e, r in marked] == [
        ("Rockets", "WEAPON", "INSTRUMENT"), ("Erbil", "LOC", None),
        ("rockets", "WEAPON", None), ("Iran", "LOC", None), ("Erbil", "LOC", None),
    ]  # fmt: skip
    assert record.spans[-1].start == TEXT.rindex("Erbil")  # the second one
    assert [c.value for c in record.coarse] == ["VIOLENCE"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"entities": [["Mosul", "LOC"]]}, "fewer than 1 occurrence"),
        ({"entities": [["Erbil", "CITY"]]}, "label 'CITY' is not one of"),
        ({"entities": [["Erbil", "LOC"], ["Erbil", "LOC"]]}, "already marked"),
        ({"entities": [["Rockets hit", "WEAPON"], ["hit Erbil", "LOC"]]}, "overlap"),
        ({"split": "validation"}, "must be 'train', 'dev' or 'test'"),
        ({"events": ["AIR_RAID"]}, "unknown event type"),
        ({"lang": "en"}, "fields must be exactly"),
    ],
)
def test_wrong_lines_are_refused_with_the_reason(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        to_record(line(**changes), "x.jsonl")


def test_a_file_lists_every_wrong_line(tmp_path: Path) -> None:
    path = tmp_path / "w.jsonl"
    rows = [line(), line(id="t-2", entities=[["Mosul", "LOC"]]), line()]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    expected = r"2 wrong line\(s\):\n.*w.jsonl:2: .*Mosul.*\n.*w.jsonl:3: id"
    with pytest.raises(ValueError, match=expected):
        load(path)


def test_the_shipped_files_load_with_fixed_splits() -> None:
    records = {p.name: load(p) for p in files()}
    assert sum(map(len, records.values())) == 2076
    texts = [r.text for recs in records.values() for r in recs]
    assert len(set(texts)) == len(texts)  # no text in two places (train and test, say)
    for name, recs in records.items():
        if name.startswith("dev_"):  # the dev files are dev throughout
            assert {r.split.value for r in recs} == {"dev"}, name
            continue
        # Every fourth text of the other files is test, fixed before training.
        for r in recs:
            number = int(r.id.rsplit("-", 1)[1])
            assert (r.split.value == "test") == (number % 4 == 0), r.id
