from pathlib import Path

from serving.schema import Role
from training.corpus import convert_cameo
from training.corpus.log import ConversionLog
from training.corpus.record import LabelSet, Split
from training.corpus.splits import cameo_split, text_key


def write_cameo(root: Path) -> None:
    (root / "cameo" / "ner").mkdir(parents=True)
    (root / "cameo" / "class").mkdir(parents=True)
    (root / "cameo" / "ner" / "train.txt").write_text(
        "Rebel B-S\nfighters I-S\nshelled O\nthe B-T\ntown I-T\n. O\n\nEnvoys B-R\nmet O\n. O\n",
        encoding="utf-8",
    )
    (root / "cameo" / "ner" / "test.txt").write_text(
        "Police B-S\ndetained O\nstudents B-T\n. O\n", encoding="utf-8"
    )
    (root / "cameo" / "class" / "train.tsv").write_text(
        "Rebel fighters shelled the town.\t4\nEnvoys met.\t1\n", encoding="utf-8"
    )
    (root / "cameo" / "class" / "test.tsv").write_text(
        "Police detained students.\t4\nBad line\t9\n", encoding="utf-8"
    )


def test_ner_spans_and_splits(tmp_path: Path) -> None:
    write_cameo(tmp_path)
    log = ConversionLog()
    records = [r for r in convert_cameo.convert(tmp_path, log) if r.collection == "cameo_ner"]
    assert [r.text for r in records] == [
        "Rebel fighters shelled the town .",
        "Envoys met .",
        "Police detained students .",
    ]
    first = records[0]
    assert [(first.span_text(s), s.role) for s in first.spans] == [
        ("Rebel fighters", Role.SOURCE_ACTOR),
        ("the town", Role.TARGET_ACTOR),
    ]
    assert records[1].spans[0].role is Role.RECIPROCAL_ACTOR
    assert records[2].split is Split.TEST
    keys = convert_cameo.test_keys(tmp_path)
    assert records[0].split is cameo_split(records[0].text, keys)
    cov = first.coverage(LabelSet.ROLES)
    assert cov is not None and cov.labels == ["SOURCE_ACTOR", "TARGET_ACTOR", "RECIPROCAL_ACTOR"]


def test_class_labels_and_bad_lines(tmp_path: Path) -> None:
    write_cameo(tmp_path)
    log = ConversionLog()
    records = [r for r in convert_cameo.convert(tmp_path, log) if r.collection == "cameo_class"]
    assert [r.tasks.cameo_penta for r in records] == [
        ["MATERIAL_CONFLICT"],
        ["VERBAL_COOPERATION"],
        ["MATERIAL_CONFLICT"],
    ]
    assert [(p.kind, p.where) for p in log.problems] == [("bad_line", "line 2")]


def test_copies_of_a_sentence_share_a_side(tmp_path: Path) -> None:
    write_cameo(tmp_path)
    records = list(convert_cameo.convert(tmp_path, ConversionLog()))
    side: dict[str, set[Split]] = {}
    for r in records:
        side.setdefault(text_key(r.text), set()).add(r.split)
    assert all(len(s) == 1 for s in side.values())
