"""The written PentaClass sentences: each line's CAMEO root decides its class."""

from collections import Counter

import pytest

from training.corpus.convert_written_penta import PENTA_OF_ROOT, files, folder, load, to_record
from training.corpus.record import Split


def line(**changes: object) -> dict[str, object]:
    base = {
        "id": "t-1",
        "split": "train",
        "style": "wire",
        "decade": "1990s",
        "cameo": "16",
        "penta": "VERBAL_CONFLICT",
        "text": "Bonn expelled two Iraqi diplomats on Monday.",
    }
    return base | changes  # fmt: skip


def test_a_line_becomes_a_pentaclass_record() -> None:
    record = to_record(line(), "x.jsonl")
    assert record.id == "written_penta/t-1" and record.tasks.cameo_penta == ["VERBAL_CONFLICT"]
    assert [c.label_set.value for c in record.annotated] == ["cameo_penta"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"penta": "MATERIAL_CONFLICT"}, "does not match cameo root 16"),
        ({"cameo": "21"}, "must be a CAMEO code"),
        ({"cameo": "2131"}, "must be a CAMEO code"),
        ({"cameo": "16a"}, "must be a CAMEO code"),
        ({"cameo": "1823", "penta": "VERBAL_CONFLICT"}, "does not match cameo root 18"),
        ({"style": "tweet"}, "style 'tweet'"),
        ({"text": " Bonn. "}, "outer white space"),
    ],
)
def test_a_wrong_line_is_named(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        to_record(line(**changes), "x.jsonl")


def test_a_full_code_takes_its_roots_class() -> None:
    record = to_record(line(cameo="1823", penta="MATERIAL_CONFLICT"), "x.jsonl")
    assert record.tasks.cameo_penta == ["MATERIAL_CONFLICT"]


def test_every_root_has_a_class() -> None:
    assert sorted(PENTA_OF_ROOT) == [f"{n:02d}" for n in range(1, 21)]


def test_the_files_load_with_every_class_in_every_split() -> None:
    records = [r for path in files() for r in load(path)]
    by_split = Counter((r.split, r.tasks.cameo_penta[0]) for r in records)
    for split in Split:
        assert {label for s, label in by_split if s is split} == set(PENTA_OF_ROOT.values()), split
    assert len({r.text for r in records}) == len(records)  # no sentence twice


def test_the_waiting_fourth_round_loads_and_is_train_only() -> None:
    # data/written_penta/round4 is read by no collection yet (its README says why)
    records = [r for path in sorted((folder() / "round4").glob("*.jsonl")) for r in load(path)]
    assert len(records) == 600 and {r.split for r in records} == {Split.TRAIN}
    assert Counter(r.tasks.cameo_penta[0] for r in records) == dict.fromkeys(
        PENTA_OF_ROOT.values(), 120
    )
