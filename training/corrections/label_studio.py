"""Format 3: a Label Studio project exported as "JSON" (an array of tasks).

Each task's most recently updated annotation that was not cancelled is the correction;
tasks without one are skipped and noted. Label Studio counts offsets in UTF-16 code units
(JavaScript strings), ours in code points, so offsets after an emoji are converted.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

from serving.label_studio import utf16_offsets
from training.corpus.record import Record
from training.corrections.build import (
    EVENT_LABELS,
    ROLE_LABELS,
    Found,
    Layer,
    Marked,
    allowed,
    check_events,
    check_label,
    full_coverage,
    is_int,
    layer_of,
    make_record,
    spans_of,
    without_actor_roles,
)
from training.corrections.errors import CorrectionsError

LAYER_OF_NAME: dict[str, Layer] = {"entity": "entity", "role": "role"}
EVENT_NAME = "event"
SPAN_TYPES = ("labels", "hypertextlabels")


def read(path: Path, text_field: str, found: Found) -> None:
    try:
        tasks = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CorrectionsError(
            f"{path}: cannot read it as a Label Studio JSON export ({e}); "
            "export the project as 'JSON'"
        ) from None
    if not isinstance(tasks, list):
        raise CorrectionsError(
            f"{path}: expected a JSON array of tasks (Label Studio's 'JSON' export), "
            f"got a JSON {type(tasks).__name__}"
        )
    ignored: Counter[str] = Counter()
    for i, task in enumerate(tasks):
        tid = task.get("id", f"#{i + 1}") if isinstance(task, dict) else f"#{i + 1}"
        where = f"{path}: task {tid}"
        try:
            record = convert(task, text_field, path, str(tid), where, ignored)
        except CorrectionsError as e:
            found.problems.append(str(e))
            continue
        if record is None:
            found.notes.append(f"{where}: skipped, no annotation that was not cancelled")
        else:
            found.records.append(record)
    for what, n in sorted(ignored.items()):
        found.notes.append(f"{path}: ignored {n} result(s): {what}")


def convert(
    task: object, text_field: str, path: Path, tid: str, where: str, ignored: Counter[str]
) -> Record | None:
    """The task's record, or None when no annotation counts."""
    if not isinstance(task, dict):
        raise CorrectionsError(f"{where}: expected a task object, got {type(task).__name__}")
    data = task.get("data")
    if not isinstance(data, dict) or text_field not in data:
        fields = sorted(data) if isinstance(data, dict) else []
        raise CorrectionsError(
            f"{where}: data has no {text_field!r} field (fields: {fields}); "
            "pass the text field's name as text_field"
        )
    text = data[text_field]
    annotation = latest(task.get("annotations"))
    if annotation is None:
        return None
    if not isinstance(text, str) or not text.strip():
        raise CorrectionsError(f"{where}: the text is empty or missing; give the document text")
    results = annotation.get("result") or []
    if not isinstance(results, list):
        raise CorrectionsError(f"{where}: the annotation's 'result' must be a list")
    offsets = Offsets(text)
    marked: list[Marked] = []
    by_id: dict[str, tuple[int, int, str]] = {}
    events: list[object] = []
    relations: list[tuple[dict[str, Any], str]] = []
    for item in results:
        if not isinstance(item, dict):
            raise CorrectionsError(f"{where}: a result is not an object: {item!r}")
        rwhere = f"{where}, result {item.get('id')}"
        kind, name = item.get("type"), item.get("from_name")
        value = item.get("value")
        value = value if isinstance(value, dict) else {}
        if kind in SPAN_TYPES:
            start, end = offsets.of(value, rwhere)
            for label in _list(value, kind, rwhere):
                layer = _layer(name, label, rwhere)
                marked.append(Marked(start, end, layer, label, rwhere))
            by_id[str(item.get("id"))] = (start, end, rwhere)
        elif kind == "choices":
            choices = _list(value, "choices", rwhere)
            if name == EVENT_NAME or all(c in EVENT_LABELS for c in choices):
                events += choices
            else:
                ignored[f"choices of {name!r} that are not event types"] += 1
        elif kind == "relation":
            relations.append((item, rwhere))
        else:
            ignored[f"type {kind!r}"] += 1
    for item, rwhere in relations:
        roles = [label for label in item.get("labels") or [] if label in ROLE_LABELS]
        if not roles:
            ignored["relations without a role label"] += 1
            continue
        target = by_id.get(str(item.get("from_id")))
        if target is None:
            raise CorrectionsError(
                f"{rwhere}: relation from {item.get('from_id')!r}, which is not a labelled "
                "span of this annotation; point it at the span that plays the role"
            )
        start, end, _ = target
        marked += [Marked(start, end, "role", role, rwhere) for role in roles]
    return make_record(
        text=text,
        spans=spans_of(without_actor_roles(marked)),
        events=check_events(events, f"{where}, events"),
        annotated=full_coverage(),
        path=path,
        upstream_id=tid,
        where=where,
    )


def latest(annotations: object) -> dict[str, Any] | None:
    """The most recently updated annotation not cancelled (later in the list on ties)."""
    usable = [
        (_time(a), i, a)
        for i, a in enumerate(annotations if isinstance(annotations, list) else [])
        if isinstance(a, dict) and not a.get("was_cancelled")
    ]
    return max(usable, key=lambda t: (t[0], t[1]))[2] if usable else None


def _time(annotation: dict[str, Any]) -> dt.datetime:
    stamp = annotation.get("updated_at") or annotation.get("created_at")
    try:
        when = dt.datetime.fromisoformat(str(stamp))
    except ValueError:
        return dt.datetime.min.replace(tzinfo=dt.UTC)
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _list(value: dict[str, Any], key: str, where: str) -> list[str]:
    items = value.get(key)
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        raise CorrectionsError(f"{where}: value.{key} must be a list of labels")
    return items


def _layer(from_name: object, label: str, where: str) -> Layer:
    layer = LAYER_OF_NAME.get(str(from_name))
    if layer is not None:
        check_label(label, layer, where)
        return layer
    found = layer_of(label)
    if found is None:
        raise CorrectionsError(
            f"{where}: unknown label {label!r} (from_name {from_name!r}); use an entity type "
            f"({allowed('entity')}) or a role ({allowed('role')})"
        )
    return found


class Offsets:
    """Span offsets of one task's text, checked against the span's own text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._from_utf16: dict[int, int] | None = None

    def of(self, value: dict[str, Any], where: str) -> tuple[int, int]:
        start, end = value.get("start"), value.get("end")
        if not is_int(start) or not is_int(end):
            raise CorrectionsError(
                f"{where}: value.start and value.end must be integers, got {start!r}, {end!r}"
            )
        given = value.get("text")
        if given is None or self.text[start:end] == given:
            return start, end
        units = self.utf16()
        if start in units and end in units:
            cstart, cend = units[start], units[end]
            if self.text[cstart:cend] == given:
                return cstart, cend
        raise CorrectionsError(
            f"{where}: span text {given!r} is not the text at [{start}, {end}) "
            f"({self.text[start:end]!r}), counting code points or UTF-16 units; "
            "fix the offsets or the span text"
        )

    def utf16(self) -> dict[int, int]:
        """UTF-16 offset -> code point offset, at every code point boundary."""
        if self._from_utf16 is None:
            units = utf16_offsets(self.text) or range(len(self.text) + 1)
            self._from_utf16 = {unit: i for i, unit in enumerate(units)}
        return self._from_utf16
