from pathlib import Path

import pytest

from serving.schema import CoarseType, EventType
from training.corpus import convert_tsv
from training.corpus.log import ConversionLog
from training.corpus.record import LabelSet, Split


def write_satp(root: Path) -> None:
    (root / "satp").mkdir()
    rows = {
        "train": "Militants shot two guards.\t1\t0\t0\t0\nA mob burned huts.\t0\t0\t0\t1\n"
        "Two Maoists were killed in an encounter with police.\t1\t1\t0\t0\n",
        "dev": "An IED went off.\t0\t1\t0\t0\ntoo\tfew\n",
        "test": "Nothing happened.\t0\t0\t0\t0\n",
    }
    for split, body in rows.items():
        (root / "satp" / f"{split}.tsv").write_text(body, encoding="utf-8")


def test_parse_line_errors_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="expected text and 4 label columns, found 2"):
        convert_tsv.parse_line("text\t1\n", 4)
    with pytest.raises(ValueError, match="must be 0 or 1"):
        convert_tsv.parse_line("text\t1\t2\t0\t0", 4)
    assert convert_tsv.parse_line("a b\t1\t0\n", 2) == ("a b", [1, 0])


def test_satp_labels_events_and_coarse(tmp_path: Path) -> None:
    write_satp(tmp_path)
    log = ConversionLog()
    spec = next(s for s in convert_tsv.SETS if s.collection == "satp")
    records = list(convert_tsv.convert_set(spec, tmp_path, log))
    assert [r.split for r in records] == [Split.TRAIN] * 3 + [Split.DEV, Split.TEST]
    shot, burned, _encounter, ied, nothing = records
    assert shot.tasks.satp == ["ARMED_ASSAULT"]
    assert shot.events == [EventType.ARMED_ATTACK]
    assert shot.coarse == [CoarseType.VIOLENCE]
    # "Other violence" says violence happened, not which kind.
    assert burned.events == [] and burned.coarse == [CoarseType.VIOLENCE]
    assert ied.events == [EventType.BOMBING]
    assert nothing.events == [] and nothing.coarse == []
    events = shot.coverage(LabelSet.EVENTS)
    assert events is not None and events.labels == ["ARMED_ATTACK", "BOMBING", "KIDNAPPING"]
    coarse = shot.coverage(LabelSet.COARSE)
    assert coarse is not None and coarse.labels == ["VIOLENCE"]
    assert [(p.file, p.where, p.kind) for p in log.problems] == [
        ("satp/dev.tsv", "line 2", "bad_line")
    ]


def test_satp_exchange_of_fire_leaves_armed_attack_unknown(tmp_path: Path) -> None:
    """SATP marks exchanges of fire ARMED_ASSAULT; ours mark them ARMED_CLASH, so there
    ARMED_ATTACK is neither gold nor a negative (mapping.UNKNOWN_WHERE)."""
    write_satp(tmp_path)
    spec = next(s for s in convert_tsv.SETS if s.collection == "satp")
    records = list(convert_tsv.convert_set(spec, tmp_path, ConversionLog()))
    shot, encounter = records[0], records[2]
    assert encounter.tasks.satp == ["ARMED_ASSAULT", "BOMBING"]  # SATP's own labels stay
    assert encounter.events == [EventType.BOMBING]
    assert encounter.coarse == [CoarseType.VIOLENCE]
    events = encounter.coverage(LabelSet.EVENTS)
    assert events is not None and events.labels == ["BOMBING", "KIDNAPPING"]
    unchanged = shot.coverage(LabelSet.EVENTS)
    assert unchanged is not None and "ARMED_ATTACK" in unchanged.labels
