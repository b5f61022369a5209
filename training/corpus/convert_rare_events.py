"""Hand-written sentences for the event types the corpora barely cover (data/rare_events).

The files live in the repository, not the datasets folder: they were written for this
project (see data/rare_events/README.md for the guidelines) and are stored as finished
records (their `source.file` is relative to the project root, not the data directory).
Every sentence is labelled for all event types and all coarse types but
NON_CONFLICT, so a type it lacks is a true negative; the dev file is where the rare types'
quality is reported. This converter only checks them: a wrong line is an error to fix in
the file, never something to skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from serving.schema import CoarseType, EventType
from training.corpus.jsonlines import read_records
from training.corpus.log import ConversionLog
from training.corpus.mapping import coarse_of
from training.corpus.record import Coverage, LabelSet, Record, Split
from training.corpus.sources import project_root

COLLECTIONS = {
    "rare_events": "hand-written sentences for the rare event types, every event type "
    "labelled (data/rare_events; train and dev)",
}
DATASET = "rare_events"
FILES: dict[Split, str] = {Split.TRAIN: "train.jsonl", Split.DEV: "dev.jsonl"}


def folder() -> Path:
    return project_root() / "data" / "rare_events"


def expected_coverage() -> list[Coverage]:
    """Every event type, and every coarse type but NON_CONFLICT, labelled exhaustively."""
    return [
        Coverage(label_set=LabelSet.EVENTS, labels=[e.value for e in EventType]),
        Coverage(
            label_set=LabelSet.COARSE,
            labels=[c.value for c in CoarseType if c is not CoarseType.NON_CONFLICT],
        ),
    ]


def check(record: Record, split: Split) -> list[str]:
    """What is wrong with one hand-written record (empty: nothing)."""
    problems = []
    if record.collection != DATASET:
        problems.append(f"collection is {record.collection!r}, expected {DATASET!r}")
    if record.split is not split:
        problems.append(f"split is {record.split.value!r} in the {split.value} file")
    if not record.id.startswith(f"{DATASET}/{split.value}/"):
        problems.append(f"id {record.id!r} must start with '{DATASET}/{split.value}/'")
    if record.source.dataset != DATASET:
        problems.append(f"source.dataset is {record.source.dataset!r}, expected {DATASET!r}")
    if record.annotated != expected_coverage():
        problems.append("annotated must be EVENTS (all types) and COARSE (all but NON_CONFLICT)")
    if record.events != [e for e in EventType if e in record.events]:
        problems.append("events must be distinct and in schema order")
    if record.coarse != coarse_of(record.events):
        want = [c.value for c in coarse_of(record.events)]
        problems.append(f"coarse must be {want}, the coarse types of its events")
    if record.spans or record.sentences or record.templates:
        problems.append("only events and coarse types are annotated: no spans or sentences")
    if record.text != record.text.strip():
        problems.append("text has leading or trailing white space")
    return problems


def load(path: Path, split: Split) -> list[Record]:
    """Read and check one file; ValueError names the file and line of the first problem."""
    records: list[Record] = []
    ids: dict[str, int] = {}
    for n, record in read_records(path):
        problems = check(record, split)
        if record.id in ids:
            problems.append(f"id {record.id!r} already used on line {ids[record.id]}")
        if problems:
            raise ValueError(f"{path}:{n} (record {record.id!r}): " + "; ".join(problems))
        ids[record.id] = n
        records.append(record)
    return records


def convert(data_dir: Path, log: ConversionLog) -> Iterator[Record]:
    """The train and dev records. `data_dir` is unused: these files are in the repository."""
    del data_dir, log
    for split, name in FILES.items():
        yield from load(folder() / name, split)
