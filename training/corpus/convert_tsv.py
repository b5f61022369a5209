"""ConfliBERT's multi-label TSV files: `text<TAB>0/1<TAB>0/1...`, one text a line.

SATP, InsightCrime and IndiaPoliceEvents (ConfliBERT's sentence and document splits)
share this format. Their published splits are kept unchanged for comparisons; the
report lists where they leak.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from serving.schema import InsightCrimeLabel, IpeLabel, SatpLabel
from training.corpus.log import ConversionLog
from training.corpus.mapping import (
    COARSE_COVERED,
    derive,
    event_labels,
    lookup,
    unknown_events,
)
from training.corpus.record import Coverage, LabelSet, Record, Source, Split, TaskLabels


@dataclass(frozen=True)
class TsvSet:
    collection: str
    dataset: str
    folder: str  # relative to the data directory
    labels: type[Enum]  # the columns, in file order
    table: str  # mapping table name, also the TaskLabels field
    task_set: LabelSet
    lowercased: bool = False


SETS = (
    TsvSet("satp", "satp", "satp", SatpLabel, "satp", LabelSet.SATP),
    TsvSet(
        "insightcrime",
        "insightcrime",
        "insightcrime",
        InsightCrimeLabel,
        "insightcrime",
        LabelSet.INSIGHTCRIME,
    ),
    TsvSet(
        "ipe_conflibert_sents",
        "indiapoliceevents",
        "indiapoliceevents/conflibert_sents",
        IpeLabel,
        "ipe",
        LabelSet.IPE,
        lowercased=True,
    ),
    TsvSet(
        "ipe_conflibert_docs",
        "indiapoliceevents",
        "indiapoliceevents/conflibert_docs",
        IpeLabel,
        "ipe",
        LabelSet.IPE,
        lowercased=True,
    ),
)

COLLECTIONS = {
    "satp": "SATP multi-label event types (ConfliBERT satp_relevant splits)",
    "insightcrime": "InsightCrime multi-label crime topics (ConfliBERT splits)",
    "ipe_conflibert_sents": "IndiaPoliceEvents sentences, ConfliBERT's sentence-random split",
    "ipe_conflibert_docs": "IndiaPoliceEvents documents, ConfliBERT's split",
}


def parse_line(line: str, n_labels: int) -> tuple[str, list[int]]:
    """Split one line into text and its 0/1 columns; ValueError says what is wrong."""
    parts = line.rstrip("\r\n").split("\t")
    if len(parts) != n_labels + 1:
        raise ValueError(f"expected text and {n_labels} label columns, found {len(parts)} fields")
    text, flags = parts[0], parts[1:]
    if any(f not in ("0", "1") for f in flags):
        raise ValueError(f"label columns must be 0 or 1, got {flags}")
    if not text.strip():
        raise ValueError("empty text")
    return text, [int(f) for f in flags]


def coverage(spec: TsvSet) -> list[Coverage]:
    out = [Coverage(label_set=spec.task_set, labels=[m.value for m in spec.labels])]
    events = event_labels(spec.table)
    if events:
        out.append(Coverage(label_set=LabelSet.EVENTS, labels=[e.value for e in events]))
    coarse = COARSE_COVERED.get(spec.table, ())
    if coarse:
        out.append(Coverage(label_set=LabelSet.COARSE, labels=[c.value for c in coarse]))
    return out


def _without(annotated: list[Coverage], events: set[str]) -> list[Coverage]:
    """The coverage with these event types taken out of the EVENTS set."""
    if not events:
        return annotated
    return [
        c.model_copy(update={"labels": [v for v in c.labels if v not in events]})
        if c.label_set == LabelSet.EVENTS
        else c
        for c in annotated
    ]


def convert_set(spec: TsvSet, data_dir: Path, log: ConversionLog) -> Iterator[Record]:
    columns = list(spec.labels)
    annotated = coverage(spec)
    for split in Split:
        rel = f"{spec.folder}/{split.value}.tsv"
        with (data_dir / rel).open(encoding="utf-8") as f:
            for line_no, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    text, flags = parse_line(line, len(columns))
                except ValueError as err:
                    log.skip(spec.dataset, rel, f"line {line_no}", "bad_line", str(err))
                    continue
                on = [c.value for c, flag in zip(columns, flags, strict=True) if flag]
                events, coarse = derive([lookup(spec.table, v) for v in on])
                unknown = {e.value for e in unknown_events(spec.table, text)}
                yield Record(
                    id=f"{spec.collection}/{split.value}/{line_no}",
                    collection=spec.collection,
                    split=split,
                    text=text,
                    source=Source(
                        dataset=spec.dataset,
                        file=rel,
                        upstream_id=f"{split.value}:{line_no}",
                        lowercased=spec.lowercased,
                    ),
                    annotated=_without(annotated, unknown),
                    events=[e for e in events if e.value not in unknown],
                    coarse=coarse,
                    tasks=TaskLabels(**{spec.table: on}),
                )


def convert(data_dir: Path, log: ConversionLog) -> Iterator[Record]:
    for spec in SETS:
        yield from convert_set(spec, data_dir, log)
