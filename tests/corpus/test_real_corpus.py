"""The whole corpus from the real datasets: counts, and the report in data/README.md."""

import json
from pathlib import Path

import pytest

from training.corpus.build import Corpus, convert_all
from training.corpus.record import Split
from training.corpus.report import render, replace_section
from training.corpus.sources import project_root


@pytest.fixture(scope="module")
def corpus(real_data: Path) -> Corpus:
    return convert_all(real_data)


def _lines(path: Path) -> int:
    with path.open(encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


pytestmark = pytest.mark.slow


def test_data_readme_holds_the_current_report(corpus: Corpus) -> None:
    readme = project_root() / "data" / "README.md"
    current = readme.read_text(encoding="utf-8")
    assert replace_section(current, render(corpus)) == current, (
        "data/README.md is out of date: run `conflict-tagger data report --write data/README.md`"
    )


def test_published_splits_keep_every_line(corpus: Corpus, real_data: Path) -> None:
    by = corpus.by_collection()
    skipped = {(p.file, p.where) for p in corpus.log.problems}
    for name, folder in [
        ("satp", "satp"),
        ("insightcrime", "insightcrime"),
        ("ipe_conflibert_sents", "indiapoliceevents/conflibert_sents"),
        ("ipe_conflibert_docs", "indiapoliceevents/conflibert_docs"),
    ]:
        for split in Split:
            rel = f"{folder}/{split.value}.tsv"
            dropped = sum(1 for f, _ in skipped if f == rel)
            got = sum(1 for r in by[name] if r.split is split)
            assert got + dropped == _lines(real_data / rel), rel


def test_ipe_documents_hold_every_sentence(corpus: Corpus, real_data: Path) -> None:
    docs = corpus.by_collection()["ipe"]
    assert len(docs) == _lines(real_data / "indiapoliceevents" / "docs.jsonl")
    located = sum(len(d.sentences) for d in docs)
    assert located == _lines(real_data / "indiapoliceevents" / "sents.jsonl")
    labelled = sum(1 for d in docs for s in d.sentences if s.tasks.ipe)
    with (real_data / "indiapoliceevents" / "sents.jsonl").open(encoding="utf-8") as f:
        assert labelled == sum(1 for line in f if json.loads(line)["sent_labels"])


def test_cameo_keeps_published_test_and_carves_dev(corpus: Corpus) -> None:
    by = corpus.by_collection()
    for name in ("cameo_ner", "cameo_class"):
        splits = {s: sum(1 for r in by[name] if r.split is s) for s in Split}
        assert splits[Split.TEST] == 451
        assert 0.07 < splits[Split.DEV] / (splits[Split.DEV] + splits[Split.TRAIN]) < 0.13
