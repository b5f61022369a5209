"""Shared fixtures. `tiny_data`: every dataset in its upstream format, written for the tests."""

import json
import os
from pathlib import Path

import pytest

SPLITS = ("train", "dev", "test")


def _lines(path: Path, rows: list[object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def write_re3d(root: Path) -> None:
    for source, n in (("news_site", 4), ("ministry", 3)):
        docs, ents = [], []
        for i in range(n):
            doc_id = f"{source.upper()}{i}"
            text = f"Rebels fired a rocket at Camp Alpha on {i + 1} May."
            docs.append({"_id": doc_id, "title": "Attack", "text": text})
            for value, kind in (("Rebels", "Organisation"), ("rocket", "Weapon"),
                                ("Camp Alpha", "Location")):  # fmt: skip
                b = text.index(value)
                ents.append({"_id": f"{doc_id}-{b}-{kind}", "begin": b, "end": b + len(value),
                             "type": kind, "value": value, "documentId": doc_id,
                             "confidence": 1})  # fmt: skip
        folder = root / "re3d" / "original" / source
        _lines(folder / "documents.json", docs)
        _lines(folder / "entities.json", ents)
    for split in SPLITS:
        path = root / "re3d" / "conflibert_split" / f"{split}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("Rebels\tB-Organisation\nfired\tO\na\tO\nrocket\tB-Weapon\n.\tO\n\n")


def write_muc4(root: Path) -> None:
    for split in SPLITS:
        text = "terrorists bombed the power station in the capital."
        rows = [
            {"docid": f"{split}-1", "doctext": text, "templates": [{
                "incident_type": "bombing", "PerpInd": [[["terrorists", 0]]], "PerpOrg": [],
                "Target": [[["the power station", 18]]], "Victim": [], "Weapon": []}]},
            {"docid": f"{split}-2", "doctext": "the weather was calm.", "templates": []},
        ]  # fmt: skip
        _lines(root / "muc4" / f"{split}.json", rows)


def write_cameo(root: Path) -> None:
    (root / "cameo" / "ner").mkdir(parents=True)
    (root / "cameo" / "class").mkdir(parents=True)
    train = ["Rebel fighters shelled the town .", "Envoys met in Geneva .", "Troops left ."]
    tags = [["B-S", "I-S", "O", "B-T", "I-T", "O"], ["B-R", "O", "O", "O", "O"],
            ["B-S", "O", "O"]]  # fmt: skip
    test = ["Police detained students ."]
    test_tags = [["B-S", "O", "B-T", "O"]]

    def conll(sents: list[str], tagss: list[list[str]]) -> str:
        return "\n".join(
            "".join(f"{t} {g}\n" for t, g in zip(s.split(), tg, strict=True))
            for s, tg in zip(sents, tagss, strict=True)
        )

    (root / "cameo" / "ner" / "train.txt").write_text(conll(train, tags))
    (root / "cameo" / "ner" / "test.txt").write_text(conll(test, test_tags))
    (root / "cameo" / "class" / "train.tsv").write_text("".join(f"{s}\t4\n" for s in train))
    (root / "cameo" / "class" / "test.tsv").write_text("".join(f"{s}\t4\n" for s in test))


def write_plover(root: Path) -> None:
    rows = [
        {"id": "GSR-DOC", "event": "DOCUMENT", "eventText": "docs"},
        {"id": "GSR-1", "event": "ASSAULT", "mode": "explosives",
         "text": "Police detained students .",
         "source": [{"actorText": "Police", "code": "COP"}],
         "target": [{"actorText": "students", "code": "EDU"}]},
        {"id": "GSR-2", "event": "PROTEST", "mode": "demo-org",
         "text": "Farmers marched on the capital.",
         "source": [{"actorText": "Farmers", "code": "AGR"}], "target": ""},
    ]  # fmt: skip
    path = root / "plover" / "PLOVER_GSR_CAMEO.txt"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(rows, indent=1), encoding="utf-8")


def write_tsv(root: Path) -> None:
    sets = {"satp": 4, "insightcrime": 7, "indiapoliceevents/conflibert_sents": 5,
            "indiapoliceevents/conflibert_docs": 5}  # fmt: skip
    for folder, n in sets.items():
        for i, split in enumerate(SPLITS):
            flags = "\t".join("1" if j == i else "0" for j in range(n))
            path = root / folder / f"{split}.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"gunmen shot a trader in {split}.\t{flags}\n", encoding="utf-8")


def write_ipe(root: Path) -> None:
    docs, sents = [], []
    for d in range(6):
        parts = [f"story {d}.", "police arrested three men."]
        docs.append({"doc_id": d, "doc_text": " ".join(parts), "doc_labels": ["ARREST"]})
        for i, text in enumerate(parts):
            sents.append({"doc_id": d, "sent_id": i, "sent_labels": ["ARREST"] if i else [],
                          "sent_text": text})  # fmt: skip
    _lines(root / "indiapoliceevents" / "docs.jsonl", docs)
    _lines(root / "indiapoliceevents" / "sents.jsonl", sents)


def write_tiny_data(root: Path) -> Path:
    for write in (write_re3d, write_muc4, write_cameo, write_plover, write_tsv, write_ipe):
        write(root)
    return root


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    """Every dataset, a few records each, in its upstream format."""
    return write_tiny_data(tmp_path / "datasets")


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An exported artifact of a tiny random-weight model trained for one epoch on
    tiny_data: real ONNX graphs (fp32 and int8), tokenizer, labels and manifest. Built once
    per test session; tests must not modify it (copy it first)."""
    from tests.training.conftest import TINY_BERT, tiny_tokenizer
    from training.config import Config
    from training.evaluate import evaluate_all
    from training.export import ExportOptions, export
    from training.train import train

    base = tmp_path_factory.mktemp("tiny-artifact")
    data = write_tiny_data(base / "datasets")
    texts = [p.read_text(encoding="utf-8") for p in data.rglob("*") if p.is_file()]
    (base / "encoder").mkdir()
    tiny_tokenizer(texts).save(str(base / "encoder" / "tokenizer.json"))
    collections = ["re3d", "muc4", "cameo_ner", "cameo_class", "satp", "insightcrime", "ipe"]
    config = Config.model_validate({
        "model": {"encoder": str(base / "encoder"), "random_init": TINY_BERT},
        "windows": {"size": 12, "stride": 8},
        "data": {"data_dir": str(data), "train": {n: {} for n in collections},
                 "dev": ["muc4", "satp", "ipe"]},
        "training": {"epochs": 1, "batch_tokens": 256, "threads": 1, "lr": 1e-3},
    })  # fmt: skip
    run = train(config, base / "run", evaluate_all, progress=False, log=lambda _: None)
    # A random-weight model has many labels near its thresholds, where int8 rounding flips
    # some: the agreement bar is for trained models.
    export(run.model_dir, base / "artifact", ExportOptions(min_agreement=0.0),
           texts=["Rebels fired a rocket."], log=lambda _: None)  # fmt: skip
    return base / "artifact"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real datasets folder. Skipped where there is none, but never in CI, where a
    missing folder must fail rather than pass by skipping every data test."""
    from training.corpus.sources import data_dir

    try:
        return data_dir()
    except FileNotFoundError as err:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(err))
