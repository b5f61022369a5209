"""Written reports joined into articles, each report with its own event types.

A model that learns an article's event types from the whole text (the max over its
sentences) is free to spread an event over every sentence, and the event records the
service builds per sentence then name the wrong types: with five written dev reports
in one text, the twelfth release's event types per report fell from micro-F1 82.4 (each
report alone) to 40.6 (benchmarks/accuracy_notes.md). Joined, the short reports of
data/written say, report by report, which types each holds and that the others hold
none, in texts as long as the articles the service reads.

Each split joins its own reports (train with train, dev with dev), in a fixed shuffled
order, `GROUP` to a text; every other text has paragraph breaks between its reports.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

from serving.schema import CoarseType, EventType
from training import packing
from training.corpus import convert_written
from training.corpus.log import ConversionLog
from training.corpus.mapping import coarse_of
from training.corpus.record import Coverage, LabelSet, Record, Sentence, Source, Split

COLLECTIONS = {
    "written_joined": "the written short reports joined five to a text, each report a "
    "sentence group with its own event types (data/written; train, dev and test joined "
    "within their split)",
}
GROUP = 5
SEED = 20261205


def coverage() -> list[Coverage]:
    """The written coverage, and event and coarse types per report as well."""
    sentence_level = [
        Coverage(label_set=LabelSet.SENTENCE_EVENTS, labels=[e.value for e in EventType]),
        Coverage(
            label_set=LabelSet.SENTENCE_COARSE,
            labels=[c.value for c in CoarseType if c is not CoarseType.NON_CONFLICT],
        ),
    ]
    return [*convert_written.coverage(), *sentence_level]


def join(reports: list[Record], separator: str) -> Record:
    """One record holding `reports` in order (`training.packing.join`), each one of its
    sentences."""
    sentences = [
        Sentence(start=offset, end=offset + len(r.text), events=r.events, coarse=r.coarse)
        for r, offset in zip(reports, packing.starts(reports, separator), strict=True)
    ]
    events = [e for e in EventType if any(e in r.events for r in reports)]
    ids = "+".join(r.source.upstream_id for r in reports)
    joined = packing.join(reports, separator)
    return Record.model_validate(
        joined.model_dump()
        | {
            "id": f"written_joined/{ids}",
            "collection": "written_joined",
            "source": Source(dataset="written", file=reports[0].source.file, upstream_id=ids),
            "annotated": coverage(),
            "events": events,
            "coarse": coarse_of(events),
            "sentences": sentences,
        }
    )  # validated: spans and sentences must lie inside the text


def report_files() -> list[Path]:
    return [p for p in convert_written.files() if p.name.startswith(("reports_", "dev_reports"))]


def convert(data_dir: Path, log: ConversionLog) -> Iterator[Record]:
    """Every joined text of every split. `data_dir` is unused: the files are ours."""
    del data_dir, log
    reports = [r for path in report_files() for r in convert_written.load(path)]
    for split in Split:
        chosen = sorted((r for r in reports if r.split is split), key=lambda r: r.id)
        random.Random(f"{SEED}/{split.value}").shuffle(chosen)
        for n, i in enumerate(range(0, len(chosen), GROUP)):
            yield join(chosen[i : i + GROUP], "\n\n" if n % 2 else " ")
