"""Whole articles against their sentences: does the served model lose entities in long text?

The service reads an article whole, in windows of up to 254 tokens. A model that only
learnt entities from single sentences can find far fewer of them there. This benchmark
tags every document twice through `Tagger` (the served path): whole, and one sentence at
a time (the service's own sentence splitter, offsets mapped back), and reports the
entities found each way and, where every entity is annotated, entity micro-F1 each way.

    python -m benchmarks.whole_documents --model models/conflict-tagger-VERSION \
        [--out benchmarks/whole_documents.md]
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from serving.decode import Decoded, ScoredSpan
from serving.result import Entity
from serving.sentences import split_sentences
from serving.tagger import Tagger
from training.corpus.record import LabelSet, Record, Span
from training.corpus.sources import project_root
from training.evaluate import span_scores

SpanT = TypeVar("SpanT", Entity, ScoredSpan, Span)


@dataclass(frozen=True)
class Comparison:
    source: str
    documents: int
    whole: int  # entities found reading each document whole
    by_sentence: int  # entities found reading it one sentence at a time
    f1_whole: float | None  # entity micro-F1 where every entity is annotated
    f1_by_sentence: float | None

    @property
    def ratio(self) -> float:
        return self.whole / self.by_sentence if self.by_sentence else 1.0


def by_sentence(tagger: Tagger, text: str) -> list[Entity]:
    """The entities of each sentence tagged alone, with offsets into the whole text."""
    spans = split_sentences(text)
    results = tagger.tag([text[s:e] for s, e in spans]) if spans else []
    return [
        e.model_copy(update={"start": e.start + s, "end": e.end + s})
        for (s, _), r in zip(spans, results, strict=True)
        for e in r.entities
    ]


def _decoded(entities: Sequence[Entity]) -> Decoded:
    """Entities of a result in the form the training scorer reads."""
    spans = [ScoredSpan(e.start, e.end, e.label.value, e.score) for e in entities]
    return Decoded(entities=spans, roles=[], document={})


Ranges = list[tuple[int, int]]


def _within(spans: Sequence[SpanT], ranges: Ranges | None) -> list[SpanT]:
    if ranges is None:
        return list(spans)
    return [s for s in spans if any(a <= s.start and s.end <= b for a, b in ranges)]


def compare(
    tagger: Tagger, source: str, records: Sequence[Record],
    ranges: Sequence[Ranges | None] | None = None,
) -> Comparison:  # fmt: skip
    """Both readings of `records`; with `ranges`, only the entities (found and gold) inside
    each record's ranges count."""
    keep = list(ranges) if ranges is not None else [None] * len(records)
    whole = [_within(r.entities, k) for r, k in zip(
        tagger.tag([rec.text for rec in records]), keep, strict=True)]  # fmt: skip
    parts = [
        _within(by_sentence(tagger, rec.text), k) for rec, k in zip(records, keep, strict=True)
    ]
    # F1 only where every entity is marked: MUC-4 marks some weapons and nothing else.
    scored = [
        i for i, rec in enumerate(records)
        if (cov := rec.coverage(LabelSet.ENTITIES)) is not None and cov.exhaustive
    ]  # fmt: skip
    f1_whole = f1_parts = None
    if scored:
        gold = [records[i].model_copy(update={"spans": _within(records[i].spans, keep[i])})
                for i in scored]  # fmt: skip
        f1_whole = span_scores(gold, [_decoded(whole[i]) for i in scored], "entity").micro.f1
        f1_parts = span_scores(gold, [_decoded(parts[i]) for i in scored], "entity").micro.f1
    return Comparison(
        source, len(records), sum(map(len, whole)), sum(map(len, parts)), f1_whole, f1_parts
    )


def _letters(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def unseen_sentences(records: Sequence[Record], data_dir: Path | None = None) -> list[Ranges]:
    """Each re3d document's sentences that are not re3d_conflibert training sentences.
    The ConfliBERT split cuts re3d's documents into sentences and splits those: 78 of the
    116 sentences of the 13 multi-sentence test documents are its training sentences,
    which a model reads alone far better than inside their documents (it learnt them
    alone). Compared on letters and digits only: its text is tokenised ("forces ,")."""
    from training.corpus.build import convert_all
    from training.corpus.sources import data_dir as locate

    corpus = convert_all(locate(data_dir), only=["re3d_conflibert"])
    seen = {_letters(r.text) for r in corpus.records if r.split.value == "train"}
    return [
        [(a, b) for a, b in split_sentences(r.text) if _letters(r.text[a:b]) not in seen]
        for r in records
    ]


def sample_records() -> list[Record]:
    """data/samples/article.txt as an unannotated record."""
    from training.corpus.record import Source, Split

    path = project_root() / "data" / "samples" / "article.txt"
    return [
        Record(
            id="samples/article", collection="samples", split=Split.TEST,
            text=path.read_text(encoding="utf-8"), annotated=[],
            source=Source(dataset="samples", file="data/samples/article.txt", upstream_id="1"),
        )
    ]  # fmt: skip


def held_out(collection: str, data_dir: Path | None = None) -> list[Record]:
    """The test split of a collection, multi-sentence texts only."""
    from training.corpus.build import convert_all
    from training.corpus.sources import data_dir as locate

    corpus = convert_all(locate(data_dir), only=[collection])
    return [
        r
        for r in corpus.records
        if r.collection == collection and r.split.value == "test"
        and len(split_sentences(r.text)) > 1
    ]  # fmt: skip


SOURCES = ("written", "re3d", "muc4")


def run(tagger: Tagger, data_dir: Path | None = None) -> list[Comparison]:
    out = [compare(tagger, "data/samples/article.txt", sample_records())]
    for name in SOURCES:
        records = held_out(name, data_dir)
        out.append(compare(tagger, f"{name} test", records))
        if name == "re3d":
            unseen = unseen_sentences(records, data_dir)
            out.append(compare(tagger, "re3d test, sentences unseen in training", records, unseen))
    return out


def pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def render(rows: Sequence[Comparison], model: str, command: str) -> str:
    lines = [
        "# Whole documents against their sentences",
        "",
        f"Made by `{command}` with `{model}` (the served path: `Tagger`, heuristic "
        "sentence splitter). Entities are counted after decoding; F1 is entity micro-F1 "
        "(seqeval over word tokens, the labels each text is annotated for) where every "
        "entity is annotated. re3d test documents share sentences with re3d_conflibert's "
        "training split, which the model reads alone better than inside their documents: "
        "the row of sentences unseen in training scores only the others; MUC-4 "
        "marks only some weapons, so only counts are given, and its text is lower-case, "
        "which the splitter does not divide: only the documents it divides are counted.",
        "",
        "| documents | n | entities, whole | entities, by sentence | whole / by sentence "
        "| F1 whole | F1 by sentence |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.source} | {r.documents} | {r.whole} | {r.by_sentence} | {r.ratio:.2f} "
            f"| {pct(r.f1_whole)} | {pct(r.f1_by_sentence)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    import sys

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--model", required=True, help="artifact folder, tag or production")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/whole_documents.md"))
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    tagger = Tagger.from_artifact(args.model)
    rows = run(tagger, args.data_dir)
    command = "python -m benchmarks.whole_documents " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    text = render(rows, f"{tagger.info.name} {tagger.info.version}", command.strip())
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
