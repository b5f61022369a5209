"""Format 2: the batch labeler's output (JSONL, gzip JSONL or Parquet) after a person
corrected its `tags` (a serving.result.Result, as JSON text or an object).

The person reviewed the whole output, so what is left in `entities`, `roles` and
`event_types` is the truth and everything else is a true negative (full coverage).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training.corpus.record import Record
from training.corrections.build import (
    Found,
    Layer,
    Marked,
    check_events,
    check_label,
    full_coverage,
    is_int,
    make_record,
    spans_of,
    without_actor_roles,
)
from training.corrections.errors import CorrectionsError
from training.corrections.files import PARQUET_SUFFIXES, json_lines, parquet_rows

SPAN_LISTS: dict[str, Layer] = {"entities": "entity", "roles": "role"}


def read(path: Path, text_field: str, found: Found) -> None:
    parquet = path.name.lower().endswith(PARQUET_SUFFIXES)
    rows = parquet_rows(path) if parquet else json_lines(path)
    for n, obj in rows:
        rid = obj.get("id")
        where = f"{path}: row {n}" if parquet else f"{path}:{n}"
        if rid is not None:
            where += f" (record {rid!r})"
        upstream = str(rid) if rid is not None else (f"row {n}" if parquet else f"line {n}")
        try:
            found.records.append(convert(obj, text_field, path, upstream, where))
        except CorrectionsError as e:
            found.problems.append(str(e))


def convert(obj: dict[str, Any], text_field: str, path: Path, upstream: str, where: str) -> Record:
    if text_field not in obj:
        raise CorrectionsError(
            f"{where}: no {text_field!r} field (fields: {sorted(obj)}); "
            "pass the text field's name as text_field"
        )
    text = obj[text_field]
    tags = _tags(obj.get("tags"), where)
    marked: list[Marked] = []
    for key, layer in SPAN_LISTS.items():
        for i, item in enumerate(_list(tags, key, where)):
            marked.append(_marked(item, layer, text, f"{where}, {key}[{i}]"))
    events = check_events(
        (e.get("label") if isinstance(e, dict) else e for e in _list(tags, "event_types", where)),
        f"{where}, event_types",
    )
    return make_record(
        text=text,
        spans=spans_of(without_actor_roles(marked)),
        events=events,
        annotated=full_coverage(),
        path=path,
        upstream_id=upstream,
        where=where,
    )


def _tags(value: object, where: str) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise CorrectionsError(f"{where}: 'tags' is not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise CorrectionsError(
            f"{where}: 'tags' must be the labeler's result object, got {type(value).__name__}"
        )
    return value


def _list(tags: dict[str, Any], key: str, where: str) -> list[Any]:
    # A missing list would silently mean "none" under full coverage, so it is an error.
    value = tags.get(key)
    if not isinstance(value, list):
        raise CorrectionsError(
            f"{where}: 'tags' has no {key!r} list; keep it, empty if there are none"
        )
    return value


def _marked(item: object, layer: Layer, text: object, where: str) -> Marked:
    if not isinstance(item, dict):
        raise CorrectionsError(f"{where}: expected an object with start, end and label")
    start, end = item.get("start"), item.get("end")
    if not is_int(start) or not is_int(end):
        raise CorrectionsError(f"{where}: start and end must be integers, got {start!r}, {end!r}")
    label = check_label(item.get("label"), layer, where)
    given = item.get("text")
    if given is not None and isinstance(text, str) and text[start:end] != given:
        raise CorrectionsError(
            f"{where}: span text {given!r} is not the text at [{start}, {end}) "
            f"({text[start:end]!r}); fix the offsets or the span text"
        )
    return Marked(start, end, layer, label, where)
