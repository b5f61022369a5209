"""Annotated news written for this project (data/written): articles and short reports.

No corpus marks weapons, platforms and places across whole articles together with event
roles and event types, and none has news without any conflict event. These texts were
written for the project (see data/written/README.md) in an authoring format that names
phrases instead of offsets: `[phrase, LABEL]` marks the first occurrence of `phrase`,
`[phrase, LABEL, n]` the n-th. This module resolves them to offsets and checks every
line; a wrong line is an error to fix in the file, never something to skip.

`python -m training.corpus.convert_written FILE...` checks files and prints label counts.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from serving.schema import EVENT_ROLES, EntityType, EventType
from training.corpus.convert_rare_events import expected_coverage
from training.corpus.log import ConversionLog
from training.corpus.mapping import coarse_of
from training.corpus.record import Coverage, LabelSet, Record, Source, Span, Split
from training.corpus.sources import project_root

DATASET = "written"
COLLECTIONS = {
    "written": "news articles and short event reports written for this project, with "
    "entities (weapons and platforms included), event roles and all event types labelled; "
    "non-conflict news included (data/written; train, dev and a hand-checked test split)",
}
# Quantities, money and document references are not marked: unknown, not absent.
ENTITY_LABELS = [
    e.value
    for e in EntityType
    if e not in (EntityType.QUANTITY, EntityType.MONEY, EntityType.DOC_REF)
]
ROLE_LABELS = [r.value for r in EVENT_ROLES]
STYLES = {
    "wire", "local_press", "ngo_report", "press_release", "analyst_note", "liveblog",
    "headline", "brief", "event_log", "radio_transcript", "opinion",
}  # fmt: skip
FIELDS = {"id", "split", "style", "text", "entities", "roles", "events"}


def folder() -> Path:
    return project_root() / "data" / "written"


def coverage() -> list[Coverage]:
    """Entities and event roles, and every event and coarse type as rare_events marks them."""
    return [
        Coverage(label_set=LabelSet.ENTITIES, labels=ENTITY_LABELS),
        Coverage(label_set=LabelSet.ROLES, labels=ROLE_LABELS),
        *expected_coverage(),
    ]


def _locate(text: str, item: Any, allowed: list[str]) -> tuple[int, int, str]:
    """(start, end, label) of one `[phrase, LABEL(, n)]` item; ValueError says what is wrong."""
    if not isinstance(item, list) or len(item) not in (2, 3):
        raise ValueError(f"{item!r} must be [phrase, LABEL] or [phrase, LABEL, n]")
    phrase, label = item[0], item[1]
    n = item[2] if len(item) == 3 else 1
    if not isinstance(phrase, str) or not phrase.strip() or phrase != phrase.strip():
        raise ValueError(f"{item!r}: the phrase must be non-empty, without outer spaces")
    if label not in allowed:
        raise ValueError(f"{item!r}: label {label!r} is not one of {allowed}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"{item!r}: the occurrence must be a whole number from 1")
    start = -1
    for _ in range(n):
        start = text.find(phrase, start + 1)
        if start < 0:
            raise ValueError(f"{item!r}: the text has fewer than {n} occurrence(s) of {phrase!r}")
    return start, start + len(phrase), label


def checked_text(raw: Any, fields: set[str], styles: set[str]) -> str:
    """The checks every authoring line passes (its fields, split, style and text); returns
    the text. ValueError names what is wrong."""
    if not isinstance(raw, dict) or set(raw) != fields:
        got = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise ValueError(f"fields must be exactly {sorted(fields)}, got {got}")
    if raw["split"] not in {s.value for s in Split}:
        raise ValueError(f"split {raw['split']!r} must be 'train', 'dev' or 'test'")
    if raw["style"] not in styles:
        raise ValueError(f"style {raw['style']!r} is not one of {sorted(styles)}")
    text = raw["text"]
    if not isinstance(text, str) or text != text.strip() or not text:
        raise ValueError("text must be a non-empty string without outer white space")
    return text


def to_record(raw: dict[str, Any], file: str) -> Record:
    """One authoring line as a Record; ValueError names what is wrong."""
    text = checked_text(raw, FIELDS, STYLES)
    layers: dict[tuple[int, int], dict[str, str]] = {}
    for key, layer, allowed in (("entities", "entity", ENTITY_LABELS),
                                ("roles", "role", ROLE_LABELS)):  # fmt: skip
        seen: set[tuple[int, int]] = set()
        for item in raw[key]:
            start, end, label = _locate(text, item, allowed)
            if (start, end) in seen:
                raise ValueError(f"{key}: {item!r} marks a span already marked")
            seen.add((start, end))
            layers.setdefault((start, end), {})[layer] = label
    events = raw["events"]
    bad = [e for e in events if e not in {t.value for t in EventType}]
    if bad:
        raise ValueError(f"unknown event type(s) {bad}")
    ordered = [e for e in EventType if e.value in events]
    try:
        return Record(
            id=f"{DATASET}/{raw['id']}",
            collection=DATASET,
            split=Split(raw["split"]),
            text=text,
            source=Source(dataset=DATASET, file=file, upstream_id=str(raw["id"])),
            annotated=coverage(),
            spans=[Span(start=s, end=e, **labels) for (s, e), labels in sorted(layers.items())],
            events=ordered,
            coarse=coarse_of(ordered),
        )
    except ValidationError as err:  # overlapping spans of one layer, mostly
        raise ValueError("; ".join(e["msg"] for e in err.errors())) from None


def load(path: Path, parse: Callable[[Any, str], Record] = to_record) -> list[Record]:
    """Every record of one file, each line read by `parse`; ValueError lists each wrong
    line (file:line: problem)."""
    rel = path.relative_to(project_root()) if path.is_relative_to(project_root()) else path
    records: list[Record] = []
    problems: list[str] = []
    ids: dict[str, int] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = parse(json.loads(line), str(rel))
        except (ValueError, TypeError, KeyError) as err:
            problems.append(f"{path}:{n}: {err}")
            continue
        if record.id in ids:
            problems.append(f"{path}:{n}: id {record.id!r} already used on line {ids[record.id]}")
        ids[record.id] = n
        records.append(record)
    if problems:
        raise ValueError(f"{len(problems)} wrong line(s):\n" + "\n".join(problems))
    return records


def files() -> list[Path]:
    return sorted(folder().glob("*.jsonl"))


def convert(data_dir: Path, log: ConversionLog) -> Iterator[Record]:
    """Every record of data/written/*.jsonl. `data_dir` is unused: the files are ours."""
    del data_dir, log
    for path in files():
        yield from load(path)


def summary(records: list[Record]) -> str:
    """Counts per split, event type, entity and role label."""
    counts: Counter[str] = Counter()
    for r in records:
        counts[f"split {r.split.value}"] += 1
        counts.update(f"event {e.value}" for e in r.events)
        if not r.events:
            counts["no event"] += 1
        counts.update(f"entity {s.entity.value}" for s in r.spans if s.entity)
        counts.update(f"role {s.role.value}" for s in r.spans if s.role)
    return "\n".join(f"{k}: {v}" for k, v in sorted(counts.items()))


if __name__ == "__main__":
    paths = [Path(a) for a in sys.argv[1:]] or files()
    try:
        found = [r for p in paths for r in load(p.resolve())]
    except ValueError as err:
        print(err)
        sys.exit(1)
    print(f"{len(found)} records OK")
    print(summary(found))
