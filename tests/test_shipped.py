"""The release model shipped in models/: verified, served without torch, and good enough
on the hand-annotated sample article and the written test news (data/written, split test:
never trained or tuned on). The floors sit a little under what the release measured
(`make model` prints it; benchmarks/whole_documents.md), so a worse model fails here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.whole_documents import compare, held_out, sample_records, unseen_sentences
from serving.artifact import Artifact, shipped, verify
from serving.decode import Decoded, ScoredSpan
from serving.tagger import Tagger
from training.corpus.convert_written import load, to_record
from training.corpus.record import Record
from training.corpus.sources import project_root
from training.evaluate import evaluate_all, load_engine, span_scores
from training.release import MAX_FILE_BYTES

SAMPLE = project_root() / "data" / "samples" / "article.annotation.json"


@pytest.fixture(scope="module")
def artifact() -> Artifact:
    return verify(shipped())


@pytest.fixture(scope="module")
def tagger(artifact: Artifact) -> Tagger:
    return Tagger(artifact)


@pytest.fixture(scope="module")
def written_test() -> list[Record]:
    records = [r for p in sorted((project_root() / "data" / "written").glob("*.jsonl"))
               for r in load(p) if r.split.value == "test"]  # fmt: skip
    assert len(records) >= 90
    return records


def test_one_release_verified_and_small_enough_for_git(artifact: Artifact) -> None:
    assert [p.name for p in (project_root() / "models").iterdir()] == [artifact.path.name]
    for name in artifact.manifest["files"]:
        assert (artifact.path / name).stat().st_size < MAX_FILE_BYTES, name
    release = artifact.manifest["release"]
    assert release["changelog"][0]["version"] == artifact.version
    assert {r["task"] for r in release["test"]} >= {"re3d NER (ConfliBERT split)", "SATP"}
    card = (artifact.path / "README.md").read_text(encoding="utf-8")
    for section in ("## Intended use", "## Accuracy on the published test splits",
                    "## Licences of the training data", "## Rebuild", "## Changelog"):  # fmt: skip
        assert section in card
    assert artifact.manifest["weights_storage"]["weights"] == "fp16"


def test_it_loads_and_tags_where_torch_cannot_be_imported() -> None:
    code = (
        "import sys\n"
        "for name in ('torch', 'transformers', 'datasets'):\n"
        "    sys.modules[name] = None  # any import of them now fails\n"
        "from serving.artifact import shipped\n"
        "from serving.tagger import Tagger\n"
        "text = open(sys.argv[1], encoding='utf-8').read()\n"
        "print(len(Tagger.from_artifact(shipped()).tag([text])[0].entities))\n"
    )
    article = project_root() / "data" / "samples" / "article.txt"
    done = subprocess.run([sys.executable, "-c", code, str(article)], capture_output=True,
                          text=True, timeout=300, cwd=project_root())  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) >= 10


def _recall_precision(gold: set[Any], found: set[Any]) -> tuple[float, float]:
    hit = len(gold & found)
    return hit / len(gold), hit / max(1, len(found))


def test_sample_article_gets_its_hand_annotation(tagger: Tagger) -> None:
    record = to_record(json.loads(SAMPLE.read_text(encoding="utf-8")), str(SAMPLE))
    result = tagger.tag([record.text])[0]
    gold = {(s.start, s.end, s.entity.value) for s in record.spans if s.entity}
    found = {(e.start, e.end, e.label.value) for e in result.entities}
    recall, precision = _recall_precision(gold, found)
    # Measured at release: 0.85 and 0.85 (the six releases before: the same).
    assert recall >= 0.75 and precision >= 0.75, (recall, precision, sorted(found - gold))
    weapons = {g for g in gold if g[2] in ("WEAPON", "MIL_PLATFORM")}
    assert len(weapons & found) >= 2, sorted(f for f in found if f[2] in ("WEAPON", "MIL_PLATFORM"))
    # Event types of the article's sentences (what its event records hold): the document
    # level is weaker on multi-sentence windows (benchmarks/accuracy_notes.md).
    events = {e.event_type.value for e in result.events}
    assert {"AIRSTRIKE", "ARREST", "PROTEST"} <= events, events
    assert len(events - {e.value for e in record.events}) <= 3, events


def test_written_test_news_floors(artifact: Artifact, written_test: list[Record]) -> None:
    engine, thresholds = load_engine(artifact.path, "fp32")
    figures = evaluate_all(engine, {"written": written_test}, thresholds)[0]["written"]
    # Measured on the 419 test texts with the eleventh release (2026-12-05; the twelfth,
    # which differs only in its PentaClass rows, gives the same figures), with event
    # types needing the coarse head (serving.decode.event_labels): entity F1 82.9 (recall
    # 83.4), WEAPON 83.7, event types 82.0, 128 of the 138 texts without a conflict event
    # kept without one (92.8%, the 90%; the tenth release: 129, 93.5%). The span
    # edits of 2026-12-05 (serving/decode.py) raised entity F1 to 83.2, the rest unchanged.
    # With reports_l (444 texts): entities 83.3, event types 81.7, 92.9% kept; with
    # reports_m (484): 83.2, 81.1, 93.3% (benchmarks/served_path.md).
    assert figures["entity_micro_recall"] >= 0.76, figures
    assert figures["entity_f1_WEAPON"] >= 0.76, figures
    assert figures["event_macro_f1"] >= 0.73, figures
    assert figures["no_event_kept"] >= 0.88, figures


def test_whole_articles_keep_their_entities(tagger: Tagger, written_test: list[Record]) -> None:
    # The bar is 0.9 of the entities found sentence by sentence; the release finds
    # (eleventh and twelfth alike) 1.00 on the sample and 0.88 on the written test
    # articles of articles.jsonl (336 against 383; the tenth release: 336 against 384;
    # benchmarks/whole_documents.md has every multi-sentence written test text), against
    # 0.06 for `full` as the issue measured it. Its F1 reading whole is higher than
    # sentence by sentence there (80.4 against 69.9).
    articles = [r for r in written_test if r.id.startswith("written/art-")]
    assert compare(tagger, "sample", sample_records()).ratio >= 0.9
    scored = compare(tagger, "written articles", articles)
    assert scored.ratio >= 0.85, scored
    assert scored.f1_whole is not None and scored.f1_by_sentence is not None
    assert scored.f1_whole >= scored.f1_by_sentence - 0.03, scored


def test_re3d_and_muc4_test_documents_keep_their_entities(tagger: Tagger, real_data: Path) -> None:
    # Measured at release (benchmarks/whole_documents.md): 1.01 on re3d and 0.97 on MUC-4
    # (the bar: 0.9); re3d F1 whole 73.0 against 78.4 by sentence. That gap is the
    # 78 of the 116 sentences the model trained on alone (re3d_conflibert's training split
    # holds them): on the other 38 the readings score 59.7 and 59.4, and the 3
    # points are held there. With the span edits of 2026-12-05: 1.01 and 0.98; 73.4
    # against 78.6, and 60.1 against 59.5 on the unseen sentences.
    documents = held_out("re3d", real_data)
    re3d = compare(tagger, "re3d test", documents)
    unseen = compare(tagger, "re3d unseen", documents, unseen_sentences(documents, real_data))
    muc4 = compare(tagger, "muc4 test", held_out("muc4", real_data))
    assert re3d.ratio >= 0.9 and muc4.ratio >= 0.9, (re3d, muc4)
    assert re3d.f1_whole is not None and re3d.f1_whole >= 0.71, re3d
    assert unseen.f1_whole is not None and unseen.f1_by_sentence is not None
    assert unseen.f1_whole >= unseen.f1_by_sentence - 0.03, unseen


def test_span_scores_see_every_gold_entity(written_test: list[Record]) -> None:
    # The floors above are only as good as the scorer: a perfect prediction scores 1.
    perfect = [
        Decoded(
            entities=[ScoredSpan(s.start, s.end, s.entity.value, 1.0) for s in r.spans if s.entity],
            roles=[],
            document={},
        )
        for r in written_test
    ]
    assert span_scores(written_test, perfect, "entity").micro.f1 == 1.0


def test_the_serving_install_alone_imports_the_service_and_the_labeler(tmp_path: Path) -> None:
    """A fresh virtual environment with the base package only: no torch pulled in."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(project_root())],
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    code = (
        "import sys\n"
        "import serving.service, serving.labeling.run, serving.tagger\n"
        "heavy = [m for m in ('torch', 'transformers', 'datasets') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    shown = subprocess.run([str(python), "-m", "pip", "show", "torch"], capture_output=True)
    assert shown.returncode != 0  # torch is not installed at all


def test_a_document_gets_the_same_tags_alone_and_among_strangers(tagger: Tagger) -> None:
    """At the served precision, batch-mates must not change a document's result: the
    service merges concurrent requests into one call (serving/batcher.py)."""
    article = (project_root() / "data" / "samples" / "article.txt").read_text(encoding="utf-8")
    docs = [article, "Rebels fired rockets at Kayes.", article[:700],
            "Police arrested 12 protesters in Nairobi on Monday. " * 30]  # fmt: skip
    strangers = ["Turkish F-16 jets struck PKK positions in northern Iraq on Sunday.",
                 "x " * 600, article[300:2000], "Peace talks resumed in Doha."]  # fmt: skip
    alone = [tagger.tag([d])[0].model_dump_json() for d in docs]
    merged = tagger.tag([*strangers[:2], *docs, *strangers[2:]])[2:-2]
    assert [m.model_dump_json() for m in merged] == alone
