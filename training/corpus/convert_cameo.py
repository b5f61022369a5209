"""CAMEO actor roles (ConfliBERT's cameo_ner) and CAMEO PentaClass (cameo_class).

Published splits are train/test only; dev is carved from train by a hash of each
sentence's text key (`splits.cameo_split`), the same rule PLOVER uses, so a sentence and
its copies in the other CAMEO file and in PLOVER always land on the same side.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from serving.schema import CameoPenta
from training.corpus.conll import join_tokens, read_conll
from training.corpus.log import ConversionLog
from training.corpus.mapping import MAPPING
from training.corpus.record import Coverage, LabelSet, Record, Source, Span, Split, TaskLabels
from training.corpus.splits import cameo_split, text_key

COLLECTIONS = {
    "cameo_ner": "CAMEO source/target/reciprocal actor spans (ConfliBERT cameo_ner)",
    "cameo_class": "CAMEO PentaClass sentence classification (ConfliBERT cameo_class)",
}

ROLE_OF_TAG = {tag: t.role for tag, t in MAPPING["cameo_ner"].items() if t.role}
# Upstream labels are the digits 0-4 in CameoPenta's order.
PENTA_OF_DIGIT = {str(i): label for i, label in enumerate(CameoPenta)}
_FILES = {Split.TRAIN: "train", Split.TEST: "test"}


def test_keys(data_dir: Path) -> set[str]:
    """Text keys of the CAMEO test sentences: what decides TEST for every CAMEO copy."""
    path = data_dir / "cameo" / "class" / "test.tsv"
    with path.open(encoding="utf-8") as f:
        return {text_key(line.rsplit("\t", 1)[0]) for line in f if line.strip()}


def _split_of(file_split: Split, text: str, keys: set[str]) -> Split:
    return Split.TEST if file_split is Split.TEST else cameo_split(text, keys)


def convert_ner(data_dir: Path, log: ConversionLog, keys: set[str]) -> Iterator[Record]:
    coverage = [Coverage(label_set=LabelSet.ROLES, labels=[r.value for r in ROLE_OF_TAG.values()])]
    for file_split, name in _FILES.items():
        rel = f"cameo/ner/{name}.txt"
        for n, sent in enumerate(read_conll(data_dir / rel, sep=None)):
            text, tagged = join_tokens(sent.tokens, sent.tags)
            spans = []
            for t in tagged:
                if t.label not in ROLE_OF_TAG:
                    log.skip("cameo", rel, f"line {sent.line}", "unknown_tag", f"tag {t.label!r}")
                    continue
                spans.append(Span(start=t.start, end=t.end, role=ROLE_OF_TAG[t.label]))
            yield Record(
                id=f"cameo_ner/{name}/{n}",
                collection="cameo_ner",
                split=_split_of(file_split, text, keys),
                text=text,
                source=Source(dataset="cameo", file=rel, upstream_id=f"{name}:{sent.line}"),
                annotated=coverage,
                spans=spans,
            )


def convert_class(data_dir: Path, log: ConversionLog, keys: set[str]) -> Iterator[Record]:
    coverage = [
        Coverage(label_set=LabelSet.CAMEO_PENTA, labels=[c.value for c in CameoPenta]),
    ]
    for file_split, name in _FILES.items():
        rel = f"cameo/class/{name}.tsv"
        with (data_dir / rel).open(encoding="utf-8") as f:
            for line_no, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                text, _, digit = line.rstrip("\r\n").rpartition("\t")
                if digit not in PENTA_OF_DIGIT or not text.strip():
                    log.skip("cameo", rel, f"line {line_no}", "bad_line", f"label {digit!r}")
                    continue
                yield Record(
                    id=f"cameo_class/{name}/{line_no}",
                    collection="cameo_class",
                    split=_split_of(file_split, text, keys),
                    text=text,
                    source=Source(dataset="cameo", file=rel, upstream_id=f"{name}:{line_no}"),
                    annotated=coverage,
                    tasks=TaskLabels(cameo_penta=[PENTA_OF_DIGIT[digit].value]),
                )


def convert(data_dir: Path, log: ConversionLog) -> Iterator[Record]:
    keys = test_keys(data_dir)
    yield from convert_ner(data_dir, log, keys)
    yield from convert_class(data_dir, log, keys)
