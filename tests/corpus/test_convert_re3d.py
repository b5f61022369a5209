"""re3d conversion on tiny invented samples; one slow test on the real files."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from serving.schema import EntityType
from training.corpus import convert_re3d as re3d
from training.corpus.log import ConversionLog
from training.corpus.record import LabelSet, Record, Split

# (id, text, [(begin, end, type, confidence[, value]), ...])
Doc = tuple[str, str, list[tuple[Any, ...]]]


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def write_original(root: Path, sources: dict[str, list[Doc]]) -> Path:
    """Write docs in re3d's layout; value defaults to the text at the offsets."""
    for source, docs in sources.items():
        folder = root / "re3d" / "original" / source
        doc_rows, ent_rows = [], []
        for doc_id, text, ents in docs:
            doc_rows.append({"_id": doc_id, "title": "T", "text": text, "sourceName": source})
            for b, e, typ, conf, *value in ents:
                ent_rows.append(
                    {
                        "_id": f"{doc_id}-{b}-{e}-{typ}",
                        "begin": b,
                        "end": e,
                        "type": typ,
                        "value": value[0] if value else text[b:e],
                        "documentId": doc_id,
                        "confidence": conf,
                    }
                )
        _write_jsonl(folder / "documents.json", doc_rows)
        _write_jsonl(folder / "entities.json", ent_rows)
    return root


def run_original(root: Path) -> tuple[list[Record], ConversionLog]:
    log = ConversionLog()
    return list(re3d.convert_original(root, log)), log


def spans_of(record: Record) -> list[tuple[str, str]]:
    return [(record.span_text(s), s.entity.value if s.entity else "") for s in record.spans]


TEXT = "Rebels fired a Grad rocket at Aleppo on Monday."


def test_table_maps_onto_every_entity_type() -> None:
    assert set(re3d.ORIGINAL_TYPES) == set(EntityType)
    assert set(re3d.TYPE_PRIORITY) == set(EntityType)
    assert EntityType.VEHICLE not in re3d.CONFLIBERT_TYPES


def test_types_are_mapped_and_text_kept(tmp_path: Path) -> None:
    ents = [(0, 6, "Organisation", 1), (15, 26, "Weapon", 1), (30, 36, "Location", 0.9)]
    ents += [(40, 46, "Temporal", 1)]
    records, log = run_original(write_original(tmp_path, {"s": [("D1", TEXT, ents)]}))
    (rec,) = records
    assert rec.id == "re3d/D1" and rec.text == TEXT and rec.collection == "re3d"
    assert spans_of(rec) == [
        ("Rebels", "ORG"),
        ("Grad rocket", "WEAPON"),
        ("Aleppo", "LOC"),
        ("Monday", "DATE"),
    ]
    assert rec.source.file == "re3d/original/s/documents.json"
    assert rec.source.upstream_id == "D1"
    cov = rec.coverage(LabelSet.ENTITIES)
    assert cov is not None and cov.labels == [t.value for t in EntityType]
    assert not log.problems


def test_offset_mismatch_is_skipped_and_logged(tmp_path: Path) -> None:
    ents = [(0, 6, "Organisation", 1, "Rebel "), (30, 36, "Location", 1)]
    records, log = run_original(write_original(tmp_path, {"s": [("D1", TEXT, ents)]}))
    assert spans_of(records[0]) == [("Aleppo", "LOC")]
    (problem,) = log.skipped("re3d")
    assert problem.kind == "offset_mismatch"
    assert problem.where == "D1-0-6-Organisation"
    assert problem.file == "re3d/original/s/entities.json"


def test_unmapped_and_low_confidence_entities_are_counted(tmp_path: Path) -> None:
    text = "Call 555-0100 on 12.5 MHz at 33.5; 36.2 now."
    ents = [
        (5, 13, "CommsIdentifier", 1),
        (17, 25, "Frequency", 1),
        (29, 39, "Coordinate", 1),
        (40, 43, "Temporal", 0.49),
        (0, 4, "Person", 0),
    ]
    records, log = run_original(write_original(tmp_path, {"s": [("D1", text, ents)]}))
    assert records[0].spans == []
    assert log.resolved[("re3d", "dropped_type:CommsIdentifier")] == 1
    assert log.resolved[("re3d", "dropped_type:Frequency")] == 1
    assert log.resolved[("re3d", "dropped_type:Coordinate")] == 1
    assert log.resolved[("re3d", "low_confidence")] == 2
    assert not log.problems


def test_whitespace_is_trimmed_and_blank_spans_skipped(tmp_path: Path) -> None:
    ents = [(29, 37, "Location", 1), (36, 37, "Person", 1)]  # " Aleppo " and " "
    records, log = run_original(write_original(tmp_path, {"s": [("D1", TEXT, ents)]}))
    assert spans_of(records[0]) == [("Aleppo", "LOC")]
    assert log.resolved[("re3d", "trimmed_whitespace")] == 1
    assert [p.kind for p in log.problems] == ["blank_span"]


def cand(start: int, end: int, entity: EntityType, confidence: float = 1.0) -> re3d.Candidate:
    return re3d.Candidate(f"{start}-{end}-{entity.value}", start, end, entity, confidence)


def resolve(cands: list[re3d.Candidate]) -> tuple[list[tuple[int, int, str]], Counter[str]]:
    log = ConversionLog()
    kept = re3d.resolve_overlaps(cands, log)
    rules = Counter({kind: n for (_, kind), n in log.resolved.items()})
    return [(c.start, c.end, c.entity.value) for c in kept], rules


def test_identical_span_keeps_higher_confidence() -> None:
    kept, rules = resolve([cand(0, 6, EntityType.LOC, 0.9), cand(0, 6, EntityType.WEAPON, 0.6)])
    assert kept == [(0, 6, "LOC")]
    assert rules == {"identical_span:higher_confidence": 1}


def test_identical_span_ties_break_by_type_priority() -> None:
    kept, rules = resolve([cand(0, 6, EntityType.ORG), cand(0, 6, EntityType.MIL_PLATFORM)])
    assert kept == [(0, 6, "MIL_PLATFORM")]
    assert rules == {"identical_span:type_priority": 1}


def test_nested_keeps_outermost_even_with_lower_confidence() -> None:
    outer = cand(0, 20, EntityType.DOC_REF, 0.7)
    kept, rules = resolve([cand(2, 8, EntityType.DATE, 1.0), outer, cand(9, 12, EntityType.ORG)])
    assert kept == [(0, 20, "DOC_REF")]
    assert rules == {"nested:outermost": 2}


def test_crossing_prefers_longer_then_confident_then_earlier() -> None:
    kept, rules = resolve([cand(0, 10, EntityType.LOC), cand(5, 20, EntityType.ORG)])
    assert kept == [(5, 20, "ORG")] and rules == {"crossing:longer_span": 1}
    kept, rules = resolve([cand(0, 10, EntityType.LOC, 0.8), cand(5, 15, EntityType.ORG, 0.9)])
    assert kept == [(5, 15, "ORG")] and rules == {"crossing:higher_confidence": 1}
    kept, rules = resolve([cand(5, 15, EntityType.ORG), cand(0, 10, EntityType.LOC)])
    assert kept == [(0, 10, "LOC")] and rules == {"crossing:earlier_start": 1}


def test_overlap_resolution_ignores_input_order() -> None:
    cands = [
        cand(0, 6, EntityType.ORG, 0.9),
        cand(0, 6, EntityType.PER, 0.9),
        cand(4, 12, EntityType.LOC, 0.8),
        cand(14, 18, EntityType.DATE),
        cand(14, 16, EntityType.QUANTITY),
    ]
    results = {tuple(resolve(list(p))[0]) for p in itertools.permutations(cands)}
    assert results == {((4, 12, "LOC"), (14, 18, "DATE"))}


def test_overlaps_resolved_inside_a_document(tmp_path: Path) -> None:
    ents = [(0, 6, "Location", 0), (0, 6, "Organisation", 1), (15, 19, "Weapon", 0.8)]
    ents += [(15, 26, "Weapon", 0.7), (15, 26, "MilitaryPlatform", 0.7)]
    records, log = run_original(write_original(tmp_path, {"s": [("D1", TEXT, ents)]}))
    assert spans_of(records[0]) == [("Rebels", "ORG"), ("Grad rocket", "WEAPON")]
    assert log.resolved[("re3d", "low_confidence")] == 1
    assert log.resolved[("re3d", "identical_span:type_priority")] == 1
    assert log.resolved[("re3d", "nested:outermost")] == 1


def many_docs(sources: int, per_source: int) -> dict[str, list[Doc]]:
    return {
        f"src{s}": [(f"S{s}D{d}", f"Document {d} from source {s}.", []) for d in range(per_source)]
        for s in range(sources)
    }


def test_split_is_deterministic_and_stratified(tmp_path: Path) -> None:
    root = write_original(tmp_path, many_docs(3, 20))
    first = {r.id: r.split for r in run_original(root)[0]}
    second = {r.id: r.split for r in run_original(root)[0]}
    assert first == second and len(first) == 60
    for s in range(3):
        splits = Counter(split for rid, split in first.items() if rid.startswith(f"re3d/S{s}D"))
        assert splits == {Split.TRAIN: 14, Split.DEV: 3, Split.TEST: 3}


def write_conll(root: Path, split: str, sentences: list[list[tuple[str, str]]]) -> None:
    path = root / "re3d" / "conflibert_split" / f"{split}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    blocks = ["".join(f"{tok}\t{tag}\r\n" for tok, tag in sent) for sent in sentences]
    path.write_text("\r\n".join(blocks), encoding="utf-8", newline="")


def test_conflibert_sentences(tmp_path: Path) -> None:
    write_conll(
        tmp_path,
        "train",
        [
            [("The", "B-Organisation"), ("militia", "I-Organisation"), ("left", "O")],
            [
                ("Armed", "O"),
                ("drones", "I-MilitaryPlatform"),
                ("struck", "O"),
                ("Homs", "B-Location"),
            ],
        ],
    )
    write_conll(
        tmp_path, "dev", [[("Tune", "O"), ("118.5", "B-Frequency"), ("MHz", "I-Frequency")]]
    )
    write_conll(
        tmp_path, "test", [[("A", "O"), ("bus", "B-Vehicle"), ("and", "Z"), ("Iraq", "B-Location")]]
    )
    log = ConversionLog()
    records = list(re3d.convert_conflibert(tmp_path, log))
    assert [r.id for r in records] == [
        "re3d_conflibert/train/0",
        "re3d_conflibert/train/1",
        "re3d_conflibert/dev/0",
        "re3d_conflibert/test/0",
    ]
    assert [r.split for r in records] == [Split.TRAIN, Split.TRAIN, Split.DEV, Split.TEST]
    train0, train1, dev0, test0 = records
    assert train0.text == "The militia left"
    assert spans_of(train0) == [("The militia", "ORG")]
    assert spans_of(train1) == [("drones", "MIL_PLATFORM"), ("Homs", "LOC")]
    assert train1.source.upstream_id == "train:5"
    assert train1.source.file == "re3d/conflibert_split/train.txt"
    assert dev0.spans == [] and spans_of(test0) == [("Iraq", "LOC")]
    cov = test0.coverage(LabelSet.ENTITIES)
    assert cov is not None and "VEHICLE" not in cov.labels and len(cov.labels) == 10
    assert log.resolved[("re3d_conflibert", "orphan_inside_tag")] == 1
    assert log.resolved[("re3d_conflibert", "dropped_type:Frequency")] == 1
    assert log.resolved[("re3d_conflibert", "dropped_type:Vehicle")] == 1
    (problem,) = log.problems
    assert (problem.kind, problem.where) == ("malformed_tag", "test:3")


def test_tag_helpers() -> None:
    assert re3d.tag_problem("O") is None and re3d.tag_problem("I-Weapon") is None
    assert all(re3d.tag_problem(t) for t in ["B-", "X-Person", "o", "Person"])
    tags = ["I-Person", "I-Person", "O", "B-Weapon", "I-Location", "I-Location", "B-Person"]
    assert re3d.orphan_inside(tags) == [0, 4]


@pytest.mark.slow
def test_real_data(real_data: Path) -> None:
    root = real_data
    log = ConversionLog()
    records = list(re3d.convert(root, log))
    for r in records:
        Record.model_validate(r.model_dump())
        assert all(r.span_text(s).strip() == r.span_text(s) for s in r.spans)
    original = [r for r in records if r.collection == "re3d"]
    assert len(original) == 98 and len({r.id for r in original}) == 98

    mismatched = set()
    for folder in (root / "re3d" / "original").iterdir():
        if not folder.is_dir():
            continue
        texts = {}
        for line in (folder / "documents.json").read_text(encoding="utf-8").splitlines():
            if line.strip():
                doc = json.loads(line)
                texts[doc["_id"]] = doc["text"]
        for line in (folder / "entities.json").read_text(encoding="utf-8").splitlines():
            if line.strip():
                e = json.loads(line)
                if texts[e["documentId"]][e["begin"] : e["end"]] != e["value"]:
                    mismatched.add(e["_id"])
    skipped = {p.where for p in log.skipped("re3d") if p.kind == "offset_mismatch"}
    assert skipped == mismatched and len(mismatched) == 5

    per_split = Counter(r.split.value for r in records if r.collection == "re3d_conflibert")
    for split in ("train", "dev", "test"):
        text = (root / "re3d" / "conflibert_split" / f"{split}.txt").read_text(encoding="utf-8")
        blocks = [b for b in text.replace("\r\n", "\n").split("\n\n") if b.strip()]
        assert per_split[split] == len(blocks)
