"""Our results as Label Studio pre-annotations, so analysts correct the model instead of
labeling from scratch.

The from_names ("entity", "role", "event") and the relation labels (the Role values) are
a contract with the importer of Label Studio exports (training/corrections/): change them
only together. Label Studio counts offsets in UTF-16 code units (JavaScript strings); ours
count code points, so spans after an emoji or other astral-plane character are shifted.
"""

from __future__ import annotations

from itertools import accumulate
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import quoteattr

from serving.schema import EntityType, EventType, Role

if TYPE_CHECKING:
    from serving.result import Result

# Distinct, readable backgrounds; one per label of a layer, in schema order.
PALETTE = (
    "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
    "#bcf60c", "#fabebe", "#008080", "#e6beff", "#9a6324", "#fffac8", "#800000", "#aaffc3",
)  # fmt: skip


def _labels(name: str, values: list[str]) -> list[str]:
    if len(values) > len(PALETTE):
        raise ValueError(f"the {name} layer has {len(values)} labels: add colours to PALETTE")
    lines = [f'  <Labels name="{name}" toName="text">']
    lines += [
        f"    <Label value={quoteattr(v)} background={quoteattr(c)}/>"
        for v, c in zip(values, PALETTE, strict=False)
    ]
    return [*lines, "  </Labels>"]


def label_config() -> str:
    """The labeling config of a Label Studio project for our tasks (paste it in the project's
    Settings > Labeling Interface > Code)."""
    lines = ["<View>"]
    lines += _labels("entity", [e.value for e in EntityType])
    lines += _labels("role", [r.value for r in Role])
    lines.append('  <Text name="text" value="$text"/>')
    lines.append('  <Choices name="event" toName="text" choice="multiple">')
    lines += [f"    <Choice value={quoteattr(e.value)}/>" for e in EventType]
    lines.append("  </Choices>")
    lines.append("  <Relations>")
    lines += [f"    <Relation value={quoteattr(r.value)}/>" for r in Role]
    lines.append("  </Relations>")
    return "\n".join([*lines, "</View>"]) + "\n"


def utf16_offsets(text: str) -> list[int] | None:
    """UTF-16 offset of every code point offset 0..len(text); None when they are equal."""
    if len(text.encode("utf-16-le", "surrogatepass")) == 2 * len(text):
        return None
    return [0, *accumulate(2 if ord(c) > 0xFFFF else 1 for c in text)]


def task(
    record_id: str, text: str, result: Result | dict[str, Any], model_version: str,
    score: float, extra: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """One Label Studio task: the text with the model's spans and event types as a
    prediction. `score` is the prediction's confidence (Label Studio sorts by it)."""
    data = result if isinstance(result, dict) else result.model_dump(mode="json")
    units = utf16_offsets(text)

    def span(prefix: str, from_name: str, index: int, s: dict[str, Any]) -> dict[str, Any]:
        start, end = int(s["start"]), int(s["end"])
        if not 0 <= start <= end <= len(text):
            raise ValueError(
                f"record {record_id}: span {start}-{end} lies outside its text of {len(text)} "
                "characters; the text is not the one that was tagged: label the file again"
            )
        return {
            "id": f"{prefix}{index}",
            "from_name": from_name,
            "to_name": "text",
            "type": "labels",
            "value": {
                "start": units[start] if units else start,
                "end": units[end] if units else end,
                "text": text[start:end],
                "labels": [s["label"]],
            },
            "score": s["score"],
        }

    items = [span("e", "entity", i, s) for i, s in enumerate(data.get("entities", []))]
    items += [span("r", "role", i, s) for i, s in enumerate(data.get("roles", []))]
    events = [e["label"] for e in data.get("event_types", [])]
    if events:
        items.append(
            {"id": "ev", "from_name": "event", "to_name": "text", "type": "choices",
             "value": {"choices": events}}
        )  # fmt: skip
    return {
        "data": {"text": text, "id": record_id, **extra},
        "predictions": [{"model_version": model_version, "score": score, "result": items}],
    }
