import json
from pathlib import Path

import pytest

from training.corpus.build import collections, convert_all, write_corpus
from training.corpus.hf import load_collection
from training.corpus.jsonlines import read_jsonl, validate_jsonl
from training.corpus.record import Split


def test_every_collection_is_built_from_tiny_data(tiny_data: Path, tmp_path: Path) -> None:
    corpus = convert_all(tiny_data)
    built = {name for name, records in corpus.by_collection().items() if records}
    assert built == set(collections())
    index = write_corpus(corpus, tmp_path / "corpus")
    for name, entry in index.items():
        for split, info in entry["splits"].items():
            path = tmp_path / "corpus" / name / f"{split}.jsonl"
            assert info["records"] == sum(1 for _ in read_jsonl(path))
    assert json.loads((tmp_path / "corpus" / "index.json").read_text()) == index


def test_writing_twice_gives_the_same_fingerprint(tiny_data: Path, tmp_path: Path) -> None:
    first = write_corpus(convert_all(tiny_data), tmp_path / "a")
    second = write_corpus(convert_all(tiny_data), tmp_path / "b")
    assert first == second


def test_only_restricts_collections(tiny_data: Path) -> None:
    corpus = convert_all(tiny_data, only=["satp"])
    assert {r.collection for r in corpus.records} == {"satp"}
    with pytest.raises(ValueError, match="unknown collection"):
        convert_all(tiny_data, only=["nope"])


def test_hugging_face_view_matches_jsonl(tiny_data: Path, tmp_path: Path) -> None:
    corpus = convert_all(tiny_data)
    write_corpus(corpus, tmp_path / "corpus")
    for name in ("muc4", "ipe", "re3d"):
        dd = load_collection(tmp_path / "corpus", name, cache_dir=tmp_path / "cache")
        expected = [r for r in corpus.records if r.collection == name]
        for split in Split:
            rows = dd[split.value]
            want = [r for r in expected if r.split is split]
            assert rows["id"] == [r.id for r in want]
            assert rows["text"] == [r.text for r in want]
    assert (
        dd["train"]._fingerprint
        == load_collection(tmp_path / "corpus", "re3d", cache_dir=tmp_path / "cache")[
            "train"
        ]._fingerprint
    )


def test_missing_collection_says_how_to_build(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="conflict-tagger data build"):
        load_collection(tmp_path, "satp")


def test_validation_names_file_line_and_record(tmp_path: Path) -> None:
    good = {
        "id": "x/1", "collection": "x", "split": "train", "text": "Police fired.",
        "source": {"dataset": "x", "file": "f", "upstream_id": "1"},
        "annotated": [{"label_set": "entities", "labels": ["PER"]}],
        "spans": [{"start": 0, "end": 6, "entity": "ORG"}],
    }  # fmt: skip
    bad_span = {**good, "id": "x/2", "spans": [{"start": 0, "end": 60, "entity": "ORG"}]}
    bad_label = {**good, "id": "x/3", "spans": [{"start": 0, "end": 6, "entity": "GUN"}]}
    path = tmp_path / "mine.jsonl"
    lines = [good, bad_span, bad_label, good]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines) + "{not json\n")
    problems = validate_jsonl(path)
    assert len(problems) == 4
    assert problems[0].startswith(f"{path}:2 (record 'x/2'): ")
    assert "past the text end 13" in problems[0]
    assert f"{path}:3 (record 'x/3')" in problems[1] and "spans.0.entity" in problems[1]
    assert "id 'x/1' already used on line 1" in problems[2]
    assert f"{path}:5 (record ?)" in problems[3]
