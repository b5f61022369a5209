import json
from pathlib import Path

from serving.schema import EventType
from training.corpus import convert_ipe
from training.corpus.log import ConversionLog
from training.corpus.record import LabelSet


def write_ipe(root: Path, n_docs: int = 4) -> None:
    folder = root / "indiapoliceevents"
    folder.mkdir()
    docs, sents = [], []
    for d in range(n_docs):
        parts = [f"story {d} begins.", "police arrested three men.", "a crowd gathered."]
        labels = [[], ["ARREST", "ANY_ACTION"], []]
        docs.append({"doc_id": d, "doc_text": " ".join(parts), "doc_labels": ["ARREST"]})
        for i, (text, lab) in enumerate(zip(parts, labels, strict=True)):
            sents.append({"doc_id": d, "sent_id": i, "sent_labels": lab, "sent_text": text})
    sents.append({"doc_id": 0, "sent_id": 9, "sent_labels": [], "sent_text": "not in the doc"})
    (folder / "docs.jsonl").write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    (folder / "sents.jsonl").write_text("\n".join(json.dumps(s) for s in sents) + "\n")


def test_documents_carry_located_sentences(tmp_path: Path) -> None:
    write_ipe(tmp_path)
    log = ConversionLog()
    records = list(convert_ipe.convert(tmp_path, log))
    assert len(records) == 4
    doc = records[0]
    assert [doc.span_text(s) for s in doc.sentences] == [
        "story 0 begins.",
        "police arrested three men.",
        "a crowd gathered.",
    ]
    arrest = doc.sentences[1]
    assert arrest.tasks.ipe == ["ARREST", "ANY_ACTION"]
    assert arrest.events == [EventType.ARREST]
    assert doc.events == [EventType.ARREST] and doc.tasks.ipe == ["ARREST"]
    assert doc.source.lowercased
    assert {c.label_set for c in doc.annotated} >= {LabelSet.SENTENCE_IPE, LabelSet.IPE}
    assert [(p.kind, p.where) for p in log.problems] == [("sentence_not_found", "doc 0 sentence 9")]


def test_split_is_by_document_and_repeatable(tmp_path: Path) -> None:
    write_ipe(tmp_path, n_docs=20)
    first = {r.id: r.split for r in convert_ipe.convert(tmp_path, ConversionLog())}
    again = {r.id: r.split for r in convert_ipe.convert(tmp_path, ConversionLog())}
    assert first == again
    assert sorted(s.value for s in first.values()).count("train") == 14


def test_locate_searches_in_order() -> None:
    assert convert_ipe.locate("a b a", ["a", "a", "zz"]) == [(0, 1), (4, 5), None]
