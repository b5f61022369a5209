"""`select`: the most uncertain, diverse records of a labeled output as Label Studio tasks.
No model: results are built by hand and written as labeled outputs in tmp_path."""

from __future__ import annotations

import gzip
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
import pytest
from typer.testing import CliRunner

from serving.label_studio import label_config, task
from serving.result import Entity, EventScore, ModelInfo, Result, RoleSpan, Sentence
from serving.schema import EntityType, EventType, Role
from training.cli import app
from training.select import SelectError, Vectors, diverse, select, tasks_path

MODEL = ModelInfo(name="conflict-tagger", version="v7")
TOPICS = [
    "Gunmen attacked a police post near Kayes on Monday, killing two officers.",
    "Protesters marched through the capital demanding the release of detained students.",
    "An airstrike hit a fuel depot outside the port city overnight, officials said.",
    "Rebels kidnapped three aid workers on the road between two northern towns.",
    "Police arrested the opposition leader after a rally was dispersed with tear gas.",
    "A car bomb exploded outside a market, wounding dozens of shoppers at noon.",
    "Artillery shelling of border villages forced hundreds of families to flee.",
    "Armed men set fire to a school and looted shops in the district last week.",
]


def _result(text: str, uncertainty: float | None, span_score: float = 0.99) -> dict[str, Any]:
    """A plausible result for `text`: one entity on its first word and one event type."""
    first = text.split()[0]
    result = Result(
        model=MODEL,
        windows=1,
        entities=[Entity(start=0, end=len(first), text=first, label=EntityType.ORG,
                         score=span_score)],
        roles=[RoleSpan(start=0, end=len(first), text=first, label=Role.PERP_ORG,
                        score=span_score)],
        event_types=[EventScore(label=EventType.ARMED_ATTACK, score=0.97)],
        coarse_types=[],
        sentences=[Sentence(start=0, end=len(text), event_types=[], coarse_types=[])],
        events=[],
        dataset_labels={},
        uncertainty=uncertainty if uncertainty is not None else 0.0,
    )  # fmt: skip
    data = result.model_dump(mode="json")
    if uncertainty is None:
        del data["uncertainty"]  # written before the field existed
    return data


def _row(i: int, text: str, uncertainty: float | None, **kw: Any) -> dict[str, Any]:
    return {"id": f"doc{i}", "text": text, "tags": json.dumps(_result(text, uncertainty, **kw))}


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    if path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "wt", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    return path


def _tasks(path: Path) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return tasks


@pytest.mark.parametrize("name", ["out.jsonl", "out.jsonl.gz", "out.parquet"])
def test_the_most_uncertain_records_are_chosen(tmp_path: Path, name: str) -> None:
    scores = [0.1, 0.8, 0.3, 0.95, 0.2, 0.7, 0.05, 0.4]
    rows = [_row(i, t, u) for i, (t, u) in enumerate(zip(TOPICS, scores, strict=True))]
    labeled = _write(tmp_path / name, rows)
    out = tmp_path / "picked.json"
    summary = select(labeled, 3, out, pool=2)
    tasks = _tasks(out)
    assert [t["data"]["id"] for t in tasks] == ["doc3", "doc1", "doc5"]  # most uncertain first
    assert [t["data"]["uncertainty"] for t in tasks] == [0.95, 0.8, 0.7]
    assert tasks[0]["data"]["text"] == TOPICS[3]
    assert tasks[0]["predictions"][0]["model_version"] == "conflict-tagger v7"
    assert tasks[0]["predictions"][0]["score"] == pytest.approx(0.05)
    assert (summary.read, summary.skipped, summary.candidates, summary.selected) == (8, 0, 6, 3)
    assert (summary.lowest, summary.highest) == (0.7, 0.95)
    assert summary.config == tmp_path / "picked.label_config.xml"
    assert ET.fromstring(summary.config.read_text(encoding="utf-8")).tag == "View"
    assert not list(tmp_path.glob("*.tmp"))


def test_near_duplicates_are_not_both_chosen(tmp_path: Path) -> None:
    story = TOPICS[0]
    rows = [
        _row(0, story, 0.9),
        _row(1, story.replace("Monday", "Tuesday"), 0.89),  # the same wire story, reworded
        _row(2, TOPICS[1], 0.6),
        _row(3, TOPICS[2], 0.1),
    ]
    out = tmp_path / "t.json"
    select(_write(tmp_path / "out.jsonl", rows), 2, out)
    assert [t["data"]["id"] for t in _tasks(out)] == ["doc0", "doc2"]


def test_diversity_breaks_ties_in_rank_order() -> None:
    vectors = Vectors.of(["a b c", "d e f", "a b c", "g h i"])
    assert diverse(np.array([0.5, 0.5, 0.5, 0.5]), vectors, 3) == [0, 1, 3]  # 2 repeats 0
    assert vectors.similarity(0) == pytest.approx([1.0, 0.0, 1.0, 0.0])


def test_n_larger_than_the_file(tmp_path: Path) -> None:
    labeled = _write(tmp_path / "out.jsonl", [_row(i, TOPICS[i], 0.1 * i) for i in range(3)])
    summary = select(labeled, 200, tmp_path / "t.json")
    assert (summary.read, summary.candidates, summary.selected) == (3, 3, 3)
    assert [t["data"]["id"] for t in _tasks(summary.tasks)] == ["doc2", "doc1", "doc0"]


def test_results_without_uncertainty_fall_back_to_their_scores(tmp_path: Path) -> None:
    rows = [
        _row(0, TOPICS[0], None, span_score=0.99),
        _row(1, TOPICS[1], None, span_score=0.5),  # two spans the model could not decide
        _row(2, TOPICS[2], None, span_score=0.9),
    ]
    out = tmp_path / "t.json"
    select(_write(tmp_path / "out.parquet", rows), 2, out)
    tasks = _tasks(out)
    assert [t["data"]["id"] for t in tasks] == ["doc1", "doc2"]
    # Doubts: spans 1.0 and 1.0; the event type at 0.97 against 0.5: 1 - 0.47 / 0.5 = 0.06.
    assert tasks[0]["data"]["uncertainty"] == pytest.approx((1.0 + 1.0 + 0.06) / 3, abs=1e-4)
    # Spans at 0.9 (doubt 0.2 each) and the event type.
    assert tasks[1]["data"]["uncertainty"] == pytest.approx((0.2 + 0.2 + 0.06) / 3, abs=1e-4)


def test_a_missing_text_field_says_to_label_without_drop_text(tmp_path: Path) -> None:
    rows = [_row(i, TOPICS[i], 0.5) for i in range(2)]
    for row in rows:
        del row["text"]
    for name in ("out.jsonl", "out.parquet"):
        with pytest.raises(SelectError, match="without --drop-text"):
            select(_write(tmp_path / name, rows), 1, tmp_path / "t.json")
    assert not (tmp_path / "t.json").exists()


def test_bad_tags_are_skipped_and_counted(tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [
        _row(0, TOPICS[0], 0.4),
        {"id": "none", "text": TOPICS[1]},
        {"id": "junk", "text": TOPICS[2], "tags": "not json"},
        {"id": "list", "text": TOPICS[3], "tags": "[1, 2]"},
        {"id": "short", "text": TOPICS[4], "tags": json.dumps({"model": MODEL.model_dump()})},
        _row(5, TOPICS[5], 0.3),
    ]
    labeled = _write(tmp_path / "out.jsonl", rows)
    with labeled.open("a", encoding="utf-8") as f:
        f.write("{not a record\n")
    summary = select(labeled, 5, tmp_path / "t.json")
    assert (summary.read, summary.skipped, summary.selected) == (7, 5, 2)
    assert "line 2" in summary.first_skip
    assert "5 skipped" in summary.text()


def test_a_file_with_no_valid_tags_is_refused(tmp_path: Path) -> None:
    labeled = _write(tmp_path / "out.jsonl", [{"id": "a", "text": "x", "tags": "{}"}])
    with pytest.raises(SelectError, match="no record with valid tags"):
        select(labeled, 1, tmp_path / "t.json")


def test_task_offsets_count_utf16_units_after_an_emoji() -> None:
    text = "🔥 Gunmen attacked Kayes 🇲🇱 on Monday."
    start = text.index("Kayes")
    monday = text.index("Monday")
    result = {
        "model": MODEL.model_dump(),
        "entities": [
            {"start": start, "end": start + 5, "text": "Kayes", "label": "LOC", "score": 0.9},
            {"start": monday, "end": monday + 6, "text": "Monday", "label": "DATE", "score": 0.8},
        ],
        "roles": [{"start": 2, "end": 8, "text": "Gunmen", "label": "PERP_IND", "score": 0.7}],
        "event_types": [{"label": "ARMED_ATTACK", "score": 0.9}],
    }
    out = task("doc1", text, result, "v7", 0.4, {"uncertainty": 0.6})
    assert out["data"] == {"text": text, "id": "doc1", "uncertainty": 0.6}
    (prediction,) = out["predictions"]
    assert (prediction["model_version"], prediction["score"]) == ("v7", 0.4)
    items = {item["id"]: item for item in prediction["result"]}
    assert set(items) == {"e0", "e1", "r0", "ev"}
    units = text.encode("utf-16-le")
    for key, word in (("e0", "Kayes"), ("e1", "Monday"), ("r0", "Gunmen")):
        value = items[key]["value"]
        assert units[2 * value["start"] : 2 * value["end"]].decode("utf-16-le") == word
        assert value["text"] == word
    assert items["e0"]["value"]["start"] == start + 1  # one astral character before it
    assert items["e1"]["value"]["start"] == monday + 3  # three (the flag is two)
    assert items["e0"] | {"value": None} == {
        "id": "e0", "from_name": "entity", "to_name": "text", "type": "labels", "value": None,
        "score": 0.9,
    }  # fmt: skip
    assert items["r0"]["from_name"] == "role" and items["r0"]["value"]["labels"] == ["PERP_IND"]
    assert items["ev"] == {
        "id": "ev", "from_name": "event", "to_name": "text", "type": "choices",
        "value": {"choices": ["ARMED_ATTACK"]},
    }  # fmt: skip


def test_a_task_from_a_result_object_and_no_event_types() -> None:
    text = TOPICS[0]
    result = Result.model_validate({**_result(text, 0.2), "event_types": []})
    out = task("x", text, result, "v7", 0.8, {})
    assert [i["id"] for i in out["predictions"][0]["result"]] == ["e0", "r0"]
    assert out["predictions"][0]["result"][0]["value"]["start"] == 0


def test_label_config_parses_and_lists_every_label() -> None:
    root = ET.fromstring(label_config())
    assert root.tag == "View"
    by_name = {el.get("name"): el for el in root if el.get("name")}
    entity, role, event = by_name["entity"], by_name["role"], by_name["event"]
    assert [el.get("value") for el in entity] == [e.value for e in EntityType]
    colours = [el.get("background") for el in entity]
    assert len(set(colours)) == len(colours)
    assert [el.get("value") for el in role] == [r.value for r in Role]
    assert role.get("toName") == entity.get("toName") == "text"
    assert (event.tag, event.get("choice")) == ("Choices", "multiple")
    assert [el.get("value") for el in event] == [e.value for e in EventType]
    assert by_name["text"].tag == "Text" and by_name["text"].get("value") == "$text"
    relations = root.find("Relations")
    assert relations is not None
    assert [el.get("value") for el in relations] == [r.value for r in Role]


def test_default_tasks_path() -> None:
    assert tasks_path(Path("a/out.jsonl.gz")) == Path("a/out.tasks.json")
    assert tasks_path(Path("out.parquet")) == Path("out.tasks.json")


def test_cli(tmp_path: Path) -> None:
    labeled = _write(tmp_path / "out.jsonl", [_row(i, t, 0.1 * i) for i, t in enumerate(TOPICS)])
    run = CliRunner().invoke(app, ["select", str(labeled), "--n", "2", "--pool", "2"])
    assert run.exit_code == 0, run.output
    tasks = _tasks(tmp_path / "out.tasks.json")
    assert [t["data"]["id"] for t in tasks] == ["doc7", "doc6"]
    assert (tmp_path / "out.tasks.label_config.xml").is_file()
    assert "2 selected" in run.output and "retrain --new" in run.output


def test_cli_error_is_clear(tmp_path: Path) -> None:
    run = CliRunner().invoke(app, ["select", str(tmp_path / "missing.jsonl")])
    assert run.exit_code == 1
    assert "does not exist" in run.output
