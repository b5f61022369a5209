"""Importing analysts' corrected annotations (training/corrections): every input format,
errors that name the record, text_key, and merge semantics."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest

from serving.schema import EVENT_ROLES, CoarseType, EntityType, EventType, Role
from training.corpus.jsonlines import read_records
from training.corpus.record import Coverage, LabelSet, Record, Source, Span, Split
from training.corrections import (
    CorrectionsError,
    merge_corrections,
    read_corrections,
    text_key,
)
from training.corrections.build import key_hash, record_id
from training.corrections.merge import dev_split

TEXT = "Rebels attacked Kayes on Monday."


def result(
    entities: list[dict[str, Any]] | None = None,
    roles: list[dict[str, Any]] | None = None,
    events: list[str] | None = None,
) -> dict[str, Any]:
    """The parts of a serving.result.Result a corrected row keeps."""
    return {
        "model": {"name": "m", "version": "1"},
        "windows": 1,
        "entities": entities or [],
        "roles": roles or [],
        "event_types": [{"label": e, "score": 1.0} for e in events or []],
        "coarse_types": [],
        "sentences": [],
        "events": [],
        "dataset_labels": {},
    }


def span(start: int, end: int, label: str, text: str = TEXT) -> dict[str, Any]:
    return {"start": start, "end": end, "text": text[start:end], "label": label, "score": 0.9}


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def record(text: str, collection: str = "corrections", split: Split = Split.TRAIN) -> Record:
    rid = record_id(text) if collection == "corrections" else f"{collection}/{split}/{text[:8]}"
    return Record(
        id=rid,
        collection=collection,
        split=split,
        text=text,
        source=Source(dataset=collection, file="f.jsonl", upstream_id=text[:8]),
        annotated=[Coverage(label_set=LabelSet.EVENTS, labels=[e.value for e in EventType])],
    )


def problems(paths: list[Path], **kwargs: Any) -> list[str]:
    with pytest.raises(CorrectionsError) as info:
        read_corrections(paths, **kwargs)
    assert isinstance(info.value, ValueError)
    return info.value.problems


# text_key


def test_text_key_normalises_unicode_case_and_white_space() -> None:
    assert text_key("  The\tﬁrst  STRASSE\n\nrally ") == "the first strasse rally"
    assert text_key("Straße") == text_key("STRASSE")
    assert text_key("\uff32\uff45\uff42\uff45\uff4c\uff53") == "rebels"  # full-width letters (NFKC)
    assert text_key("a b") != text_key("ab")


# Format 2: batch labeler output


def test_labeler_jsonl_with_entity_and_role_on_the_same_span(tmp_path: Path) -> None:
    tags = result(
        entities=[span(0, 6, "ORG"), span(16, 21, "LOC")],
        # The model's actor-role head overlaps its event roles: not imported.
        roles=[span(0, 6, "PERP_ORG"), span(0, 6, "SOURCE_ACTOR")],
        events=["ARMED_ATTACK"],
    )
    path = write_jsonl(tmp_path / "out.jsonl", [{"id": 7, "text": TEXT, "tags": json.dumps(tags)}])
    records, notes = read_corrections([path])
    [r] = records
    assert r.collection == "corrections" and r.split is Split.TRAIN
    assert r.id == record_id(TEXT) == f"corrections/{key_hash(text_key(TEXT))[:12]}"
    assert r.source.dataset == "corrections"
    assert r.source.file == str(path) and r.source.upstream_id == "7"
    assert [(s.start, s.end, s.entity, s.role) for s in r.spans] == [
        (0, 6, EntityType.ORG, Role.PERP_ORG),
        (16, 21, EntityType.LOC, None),
    ]
    assert r.events == [EventType.ARMED_ATTACK]
    assert r.coarse == [CoarseType.VIOLENCE]
    coverage = {c.label_set: c for c in r.annotated}
    assert set(coverage) == {LabelSet.ENTITIES, LabelSet.ROLES, LabelSet.EVENTS, LabelSet.COARSE}
    assert all(c.exhaustive for c in r.annotated)
    assert coverage[LabelSet.ROLES].labels == [x.value for x in EVENT_ROLES]
    assert any("actor roles" in note for note in notes)
    assert "NON_CONFLICT" not in coverage[LabelSet.COARSE].labels
    assert any(str(path) in n and "1 record" in n for n in notes)


def test_labeler_gzip_with_tags_object_and_another_text_field(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl.gz"
    row = {"body": TEXT, "tags": result(entities=[span(0, 6, "ORG")])}
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
    [r] = read_corrections([path], text_field="body")[0]
    assert r.text == TEXT and r.spans[0].entity is EntityType.ORG
    assert r.events == [] and r.coarse == []  # reviewed: no event is a true negative
    assert r.source.upstream_id == "line 1"


def test_labeler_parquet(tmp_path: Path) -> None:
    path = tmp_path / "out.parquet"
    tags = json.dumps(result(roles=[span(16, 21, "PHYS_TARGET")], events=["PROTEST"]))
    pq.write_table(pa.table({"text": [TEXT], "tags": [tags]}), path)
    [r] = read_corrections([path])[0]
    assert r.spans[0].role is Role.PHYS_TARGET and r.spans[0].entity is None
    assert r.coarse == [CoarseType.DEMONSTRATION]
    assert r.source.upstream_id == "row 1"


def test_span_text_mismatch_names_the_record_and_span(tmp_path: Path) -> None:
    bad = {**span(0, 6, "ORG"), "text": "Rebel"}
    path = write_jsonl(tmp_path / "out.jsonl", [{"id": "a1", "text": TEXT, "tags": result([bad])}])
    [p] = problems([path])
    assert f"{path}:1" in p and "'a1'" in p and "entities[0]" in p and "'Rebel'" in p


def test_unknown_label_is_named_with_the_allowed_ones(tmp_path: Path) -> None:
    tags = result(entities=[span(0, 6, "GROUP")])
    path = write_jsonl(tmp_path / "out.jsonl", [{"id": "b2", "text": TEXT, "tags": tags}])
    [p] = problems([path])
    assert "'GROUP'" in p and "'b2'" in p and "PER, ORG, NORP" in p


def test_unknown_event_type_is_an_error(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "out.jsonl", [{"text": TEXT, "tags": result(events=["WAR"])}])
    [p] = problems([path])
    assert "'WAR'" in p and "ARMED_ATTACK" in p


def test_overlapping_spans_in_one_layer_name_the_record(tmp_path: Path) -> None:
    tags = result(entities=[span(0, 15, "ORG"), span(7, 21, "LOC")])
    path = write_jsonl(tmp_path / "out.jsonl", [{"id": "c3", "text": TEXT, "tags": tags}])
    [p] = problems([path])
    assert f"{path}:1" in p and "'c3'" in p and "overlap" in p


def test_empty_text_and_missing_text_field_are_errors(tmp_path: Path) -> None:
    rows = [{"text": "  ", "tags": result()}, {"body": TEXT, "tags": result()}]
    path = write_jsonl(tmp_path / "out.jsonl", rows)
    found = problems([path])
    assert len(found) == 2
    assert f"{path}:1" in found[0] and "empty" in found[0]
    assert f"{path}:2" in found[1] and "'text'" in found[1] and "text_field" in found[1]


def test_every_invalid_record_of_every_file_is_listed(tmp_path: Path) -> None:
    good = {"text": TEXT, "tags": result()}
    bad = {"text": TEXT, "tags": result(entities=[span(0, 6, "NOPE")])}
    one = write_jsonl(tmp_path / "one.jsonl", [bad, good, bad])
    two = write_jsonl(tmp_path / "two.jsonl", [good, bad])
    with pytest.raises(CorrectionsError) as info:
        read_corrections([one, two])
    assert [p.split(",")[0] for p in info.value.problems] == [f"{one}:1", f"{one}:3", f"{two}:2"]
    assert "3 invalid correction(s)" in str(info.value)


def test_unknown_file_format_names_the_file_and_the_formats(tmp_path: Path) -> None:
    path = tmp_path / "sheet.csv"
    path.write_text("text,tags\n", encoding="utf-8")
    [p] = problems([path])
    assert str(path) in p and ".jsonl" in p and "Label Studio" in p and ".conll" in p


def test_jsonl_that_is_neither_records_nor_labeler_output(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{"text": TEXT}])
    [p] = problems([path])
    assert f"{path}:1" in p and "'tags'" in p and "'annotated'" in p


# Format 1: project records


def test_project_records_get_our_id_collection_split_and_source(tmp_path: Path) -> None:
    original = record(TEXT, collection="rare_events", split=Split.DEV).model_dump(mode="json")
    original["events"] = ["BOMBING"]
    original["coarse"] = ["VIOLENCE"]
    minimal = {"text": "Police arrested two men.", "annotated": original["annotated"]}
    path = write_jsonl(tmp_path / "records.jsonl", [original, minimal])
    first, second = read_corrections([path])[0]
    assert first.id == record_id(TEXT) and first.collection == "corrections"
    assert first.split is Split.TRAIN and first.events == [EventType.BOMBING]
    assert first.source == Source(dataset="corrections", file=str(path), upstream_id=original["id"])
    assert second.source.upstream_id == "line 2"


def test_invalid_project_record_names_file_line_and_id(tmp_path: Path) -> None:
    bad = {**record(TEXT).model_dump(mode="json"), "id": "mine/1", "events": ["NOPE"]}
    path = write_jsonl(tmp_path / "records.jsonl", [bad])
    [p] = problems([path])
    assert f"{path}:1" in p and "'mine/1'" in p and "events" in p


# Format 3: Label Studio


def ls_span(rid: str, start: int, end: int, text: str, label: str, name: str = "entity") -> Any:
    value = {"start": start, "end": end, "text": text, "labels": [label]}
    return {"id": rid, "from_name": name, "to_name": "text", "type": "labels", "value": value}


def annotation(results: list[Any], updated: str, cancelled: bool = False) -> dict[str, Any]:
    return {"id": 1, "result": results, "was_cancelled": cancelled, "updated_at": updated}


def test_label_studio_export(tmp_path: Path) -> None:
    emoji = "\U0001f525 Rebels burned the depot in Kayes."  # the emoji is 2 UTF-16 units
    # Offsets as JavaScript counts them: one more than code points after the emoji.
    rebels = ls_span("r1", 3, 9, "Rebels", "ORG")
    depot = ls_span("r2", 21, 26, "depot", "PHYS_TARGET", name="label")
    relation = {"type": "relation", "from_id": "r1", "to_id": "r2", "labels": ["PERP_ORG"]}
    choices = {"choices": ["ARSON_DESTRUCTION"]}
    event = {"id": "e", "type": "choices", "from_name": "event", "value": choices}
    old = annotation([ls_span("r9", 3, 9, "Rebels", "PER")], "2024-05-01T10:00:00Z")
    newest = annotation([rebels, depot, relation, event], "2024-05-02T10:00:00.5Z")
    cancelled = annotation([], "2024-06-01T10:00:00Z", cancelled=True)
    tasks = [
        {"id": 12, "data": {"text": emoji}, "annotations": [old, newest, cancelled]},
        {"id": 13, "data": {"text": TEXT}, "annotations": [cancelled]},
        {"id": 14, "data": {"text": TEXT}, "annotations": [], "predictions": [{"result": []}]},
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks), encoding="utf-8")
    records, notes = read_corrections([path])
    [r] = records
    assert r.source.upstream_id == "12"
    got = [(r.text[s.start : s.end], s.entity, s.role) for s in r.spans]
    assert got == [
        ("Rebels", EntityType.ORG, Role.PERP_ORG),
        ("depot", None, Role.PHYS_TARGET),
    ]
    assert r.events == [EventType.ARSON_DESTRUCTION] and r.coarse == [CoarseType.VIOLENCE]
    assert {c.label_set for c in r.annotated} == {
        LabelSet.ENTITIES,
        LabelSet.ROLES,
        LabelSet.EVENTS,
        LabelSet.COARSE,
    }
    skipped = [n for n in notes if "skipped" in n]
    assert len(skipped) == 2
    assert "task 13" in skipped[0] and "task 14" in skipped[1]


def test_label_studio_offsets_that_match_nothing_name_task_and_result(tmp_path: Path) -> None:
    wrong = ls_span("r7", 0, 5, "Rebels", "ORG")
    tasks = [{"id": 21, "data": {"text": TEXT}, "annotations": [annotation([wrong], "x")]}]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks), encoding="utf-8")
    [p] = problems([path])
    assert "task 21" in p and "result r7" in p and "'Rebels'" in p


def test_label_studio_unknown_label_and_text_field(tmp_path: Path) -> None:
    tasks = [
        {"id": 1, "data": {"body": TEXT}, "annotations": [annotation([], "x")]},
        {"id": 2, "data": {"body": TEXT}, "annotations": [
            annotation([ls_span("r1", 0, 6, "Rebels", "REBEL", name="tag")], "x")
        ]},
    ]  # fmt: skip
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks), encoding="utf-8")
    [p] = problems([path], text_field="body")
    assert "task 2" in p and "'REBEL'" in p and "PERP_ORG" in p and "WEAPON" in p
    [missing, _] = problems([path])  # the default field "text" is absent
    assert "task 1" in missing and "'text'" in missing


def test_label_studio_file_that_is_not_an_array(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"id": 1}), encoding="utf-8")
    [p] = problems([path])
    assert str(path) in p and "array" in p


# Format 4: CoNLL


def test_conll_bio_and_bioes_with_both_layers(tmp_path: Path) -> None:
    path = tmp_path / "fixed.conll"
    path.write_text(
        "-DOCSTART- O\n\n"
        "Rebels\tB-ORG\nattacked\tO\nKayes\tS-LOC\n.\tO\n\n"
        "The O\nIslamic B-PERP_ORG\nState E-PERP_ORG\nstruck O\n",
        encoding="utf-8",
    )
    records, _ = read_corrections([path])
    assert [r.text for r in records] == ["Rebels attacked Kayes .", "The Islamic State struck"]
    first, second = records
    assert [(first.span_text(s), s.entity) for s in first.spans] == [
        ("Rebels", EntityType.ORG),
        ("Kayes", EntityType.LOC),
    ]
    assert [(second.span_text(s), s.role) for s in second.spans] == [
        ("Islamic State", Role.PERP_ORG)
    ]
    assert [c.label_set for c in first.annotated] == [LabelSet.ENTITIES, LabelSet.ROLES]
    assert first.source.upstream_id == "line 3" and second.source.upstream_id == "line 8"


def test_conll_with_entities_only_is_not_annotated_for_roles(tmp_path: Path) -> None:
    path = tmp_path / "fixed.txt"
    path.write_text("Rebels B-ORG\nattacked O\n", encoding="utf-8")
    [r] = read_corrections([path])[0]
    assert [c.label_set for c in r.annotated] == [LabelSet.ENTITIES]


def test_conll_unknown_type_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "fixed.bio"
    path.write_text("Rebels B-ORG\n\nThey B-MILITIA\nfled O\nnorth X-LOC\n", encoding="utf-8")
    found = problems([path])
    assert len(found) == 2
    assert f"{path}:3" in found[0] and "'MILITIA'" in found[0] and "PERP_ORG" in found[0]
    assert f"{path}:5" in found[1] and "'X-LOC'" in found[1]


def test_conll_malformed_line(tmp_path: Path) -> None:
    path = tmp_path / "fixed.tsv"
    path.write_text("Rebels\tB-ORG\nattacked\tO\textra\n", encoding="utf-8")
    [p] = problems([path])
    assert f"{path}:2" in p and "token" in p


# Merging


def corrected(text: str, entity: str | None = None) -> Record:
    """A correction as read_corrections makes it."""
    return Record(
        id=record_id(text),
        collection="corrections",
        split=Split.TRAIN,
        text=text,
        source=Source(dataset="corrections", file="in.jsonl", upstream_id=text[:6]),
        annotated=[Coverage(label_set=LabelSet.ENTITIES, labels=[e.value for e in EntityType])],
        spans=[Span(start=0, end=4, entity=EntityType(entity))] if entity else [],
    )


def texts(n: int, start: int = 0) -> list[str]:
    return [f"Text number {i} about a clash." for i in range(start, start + n)]


def read_back(folder: Path) -> dict[Split, list[Record]]:
    return {
        split: [r for _, r in read_records(folder / f"{split.value}.jsonl")]
        for split in (Split.TRAIN, Split.DEV)
    }


def test_merge_writes_sorted_files_with_stable_hash_splits(tmp_path: Path) -> None:
    folder = tmp_path / "corrections"
    report = merge_corrections([corrected(t) for t in texts(40)], folder, [])
    files = read_back(folder)
    assert report.added == 40 and report.train + report.dev == 40
    assert (report.train, report.dev) == (len(files[Split.TRAIN]), len(files[Split.DEV]))
    for split, records in files.items():
        assert [r.id for r in records] == sorted(r.id for r in records)
        assert all(r.split is split for r in records)
        assert all(dev_split(text_key(r.text), 20) is split for r in records)
    assert 0 < report.dev < 40


def test_adding_records_never_moves_another(tmp_path: Path) -> None:
    folder = tmp_path / "corrections"
    merge_corrections([corrected(t) for t in texts(30)], folder, [])
    before = {r.id: split for split, rs in read_back(folder).items() for r in rs}
    report = merge_corrections([corrected(t) for t in texts(30, start=30)], folder, [])
    after = {r.id: split for split, rs in read_back(folder).items() for r in rs}
    assert report.added == 30 and len(after) == 60
    assert {i: after[i] for i in before} == before


def test_replacement_keeps_the_old_split(tmp_path: Path) -> None:
    folder = tmp_path / "corrections"
    merge_corrections([corrected(TEXT), corrected("Another text.")], folder, [], dev_percent=100)
    again = corrected("  rebels ATTACKED kayes on monday. ", entity="ORG")
    report = merge_corrections([again], folder, [], dev_percent=0)
    assert (report.replaced, report.added) == (1, 0)
    files = read_back(folder)
    assert files[Split.TRAIN] == []
    [new] = [r for r in files[Split.DEV] if r.spans]
    assert new.text == again.text and new.id == record_id(TEXT) == record_id(again.text)
    assert (report.train, report.dev) == (0, 2)


def test_duplicates_within_new_keep_the_later(tmp_path: Path) -> None:
    folder = tmp_path / "corrections"
    report = merge_corrections([corrected(TEXT), corrected(TEXT, entity="ORG")], folder, [])
    assert report.duplicates_in_new == 1 and report.added == 1
    [r] = [r for rs in read_back(folder).values() for r in rs]
    assert r.spans and r.spans[0].entity is EntityType.ORG
    assert report.superseded


def test_reference_duplicates_kept_in_train_dropped_in_dev_and_test(tmp_path: Path) -> None:
    folder = tmp_path / "corrections"
    train_text, dev_text, test_text, fresh = texts(4)
    reference = [
        record(train_text, "re3d", Split.TRAIN),
        record(dev_text.upper(), "re3d", Split.DEV),
        record(test_text, "muc4", Split.TEST),
        record(fresh, "corrections", Split.DEV),  # this folder's own records: ignored
    ]
    new = [corrected(t) for t in (train_text, dev_text, test_text, fresh)]
    report = merge_corrections(new, folder, reference)
    assert report.train_duplicates == 1 and report.dropped_eval_duplicates == 2
    assert report.train_duplicate_refs == [reference[0].id]
    assert any(reference[1].id in d for d in report.dropped)
    kept = {r.text for rs in read_back(folder).values() for r in rs}
    assert kept == {train_text, fresh}
    assert report.added == 2 and report.train + report.dev == 2
    md = report.markdown()
    assert "| same text as a reference dev/test record (dropped) | 2 |" in md
    assert reference[2].id in md and reference[0].id in md
    assert any("dropped" in line for line in report.lines())


def test_dev_is_never_left_empty(tmp_path: Path) -> None:
    folder = tmp_path / "corrections"
    many = [corrected(t) for t in texts(3)]
    report = merge_corrections(many, folder, [], dev_percent=0)
    smallest = min(many, key=lambda r: key_hash(text_key(r.text)))
    assert report.moved_to_dev == smallest.id
    assert [r.id for r in read_back(folder)[Split.DEV]] == [smallest.id]
    assert (report.train, report.dev) == (2, 1)
    assert any("dev" in line and smallest.id in line for line in report.lines())
    assert smallest.id in report.markdown()
    # A later import leaves it there: dev is not empty any more.
    later = merge_corrections([corrected("One more text.")], folder, [], dev_percent=0)
    assert later.moved_to_dev is None and (later.train, later.dev) == (3, 1)


def test_a_single_record_is_not_moved_to_dev(tmp_path: Path) -> None:
    folder = tmp_path / "corrections"
    report = merge_corrections([corrected(TEXT)], folder, [], dev_percent=0)
    assert report.moved_to_dev is None and (report.train, report.dev) == (1, 0)
    assert (folder / "dev.jsonl").read_text(encoding="utf-8") == ""


def test_read_then_merge_round_trip(tmp_path: Path) -> None:
    tags = result(entities=[span(0, 6, "ORG")], events=["ARMED_ATTACK"])
    path = write_jsonl(tmp_path / "out.jsonl", [{"text": TEXT, "tags": tags}])
    records, _ = read_corrections([path])
    folder = tmp_path / "corrections"
    merge_corrections(records, folder, [])
    back = [r for rs in read_back(folder).values() for r in rs]
    assert [r.model_copy(update={"split": Split.TRAIN}) for r in back] == records


def test_bad_dev_percent_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CorrectionsError, match="dev_percent"):
        merge_corrections([], tmp_path, [], dev_percent=120)
