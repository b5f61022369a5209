"""The corrections' dev records in two slices, "select" (epoch choice, thresholds) and
"gate" (the gate's alone): disjoint, complete, stable as corrections are added, and refused
with a count when too few for both."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.corpus.jsonlines import read_records
from training.corpus.record import Coverage, LabelSet, Record, Source, Split
from training.corrections import CorrectionsError, merge_corrections, split_dev
from training.corrections.build import record_id
from training.corrections.slices import slice_of


def _corrections(n: int, start: int = 0) -> list[Record]:
    return [
        Record(
            id=record_id(text), collection="corrections", split=Split.TRAIN, text=text,
            source=Source(dataset="corrections", file="in.jsonl", upstream_id=str(i)),
            annotated=[Coverage(label_set=LabelSet.ENTITIES, labels=["ORG"])],
        )
        for i in range(start, start + n)
        for text in [f"Clash number {i} near the border."]
    ]  # fmt: skip


def _ids(path: Path) -> set[str]:
    return {r.id for _, r in read_records(path)}


def _split(folder: Path, out: Path, **kwargs: int) -> tuple[set[str], set[str]]:
    slices = split_dev(folder, out / "select", out / "gate.jsonl", **kwargs)
    select, gate = _ids(out / "select" / "dev.jsonl"), _ids(out / "gate.jsonl")
    assert (slices.select, slices.gate) == (len(select), len(gate))
    return select, gate


def test_select_and_gate_slices_are_disjoint_complete_and_stable(tmp_path: Path) -> None:
    folder = tmp_path / "corrections"
    merge_corrections(_corrections(60), folder, [], dev_percent=50)
    select, gate = _split(folder, tmp_path / "a")
    assert select and gate and not select & gate
    assert select | gate == _ids(folder / "dev.jsonl")
    # Training reads the select folder: every train record, and not one gate record.
    train = (tmp_path / "a" / "select" / "train.jsonl").read_bytes()
    assert train == (folder / "train.jsonl").read_bytes()
    assert not _ids(tmp_path / "a" / "select" / "train.jsonl") & gate
    assert all(slice_of(i) == "gate" for i in gate) and all(slice_of(i) == "select" for i in select)

    assert _split(folder, tmp_path / "b") == (select, gate)  # the same split again
    merge_corrections(_corrections(60, start=60), folder, [], dev_percent=50)
    more_select, more_gate = _split(folder, tmp_path / "c")
    assert select < more_select and gate < more_gate  # no record changed slice
    assert not more_select & more_gate


def test_too_few_corrections_for_two_slices_says_how_many(tmp_path: Path) -> None:
    folder = tmp_path / "corrections"
    merge_corrections(_corrections(4), folder, [], dev_percent=50)
    with pytest.raises(CorrectionsError) as info:
        split_dev(folder, tmp_path / "select", tmp_path / "gate.jsonl", 5, dev_percent=50)
    message = str(info.value)
    assert "each needs at least 5" in message
    assert "you have 4; about 20 in all at --dev-percent 50" in message
    assert not (tmp_path / "gate.jsonl").exists()  # nothing written for training to read
