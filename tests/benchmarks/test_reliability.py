"""The reliability benchmark's pure parts: the battery of cases and the checks of an answer
(no server here; `python -m benchmarks.reliability --quick` runs the real thing)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.reliability_cases import (
    DEFAULT_LIMITS,
    Case,
    battery,
    is_junk,
    prose,
    result_problems,
    texts_of,
)
from benchmarks.reliability_labeler import Input, tally

TEXT = "Gunmen attacked Kayes on Monday."


def _span(start: int, end: int, text: str) -> dict[str, object]:
    return {"start": start, "end": end, "text": text, "label": "LOC", "score": 0.9}


def test_the_battery_has_300_cases_with_unique_names_and_every_kind() -> None:
    cases = battery(DEFAULT_LIMITS, seed=0)
    names = [c.name for c in cases]
    assert len(cases) >= 300 and len(set(names)) == len(names)
    groups = {c.group for c in cases}
    assert {"types", "bytes", "surrogate", "nesting", "duplicate", "encoding", "content-type",
            "unicode", "junk", "limit", "long", "fuzz"} <= groups  # fmt: skip
    assert sum(c.group == "fuzz" for c in cases) >= 150
    assert [c.name for c in battery(DEFAULT_LIMITS, seed=0)] == names  # seeded
    limits = {c.name for c in cases if c.group == "limit"}
    assert "limit/max_chars-prose-200000" in limits and "limit/max_chars-prose-200001" in limits
    assert "limit/max_tokens-bang-100001" in limits


def test_texts_of_reads_what_the_server_would_tag() -> None:
    twice = Case("d", b'{"text": "a", "text": "b"}')
    assert texts_of(twice) == ["b"]  # the last duplicate key wins, as in pydantic's parser
    assert texts_of(Case("b", b'{"texts": ["a", "c"]}', "/tag_batch")) == ["a", "c"]
    assert texts_of(Case("x", b"\xff")) is None
    assert texts_of(Case("y", b'{"text": 1}')) is None


def test_offsets_checker_catches_bad_offsets_and_passes_good_ones() -> None:
    good = {"entities": [_span(16, 21, "Kayes")], "roles": [], "events": []}
    assert result_problems(TEXT, good) == []
    shifted = {"entities": [_span(15, 20, "Kayes")]}
    assert result_problems(TEXT, shifted) == ["entities[0] 15:20 is ' Kaye', not 'Kayes'"]
    outside = {"roles": [_span(30, 40, "Monday.")]}
    assert "outside" in result_problems(TEXT, outside)[0]
    empty = {"entities": [_span(5, 5, "")]}
    assert result_problems(TEXT, empty)
    dangling = {"entities": [], "events": [
        {"perpetrators": [{"layer": "entities", "index": 0, "text": "Gunmen"}]}
    ]}  # fmt: skip
    assert "points at no span" in result_problems(TEXT, dangling)[0]


def test_junk_only_texts_must_come_back_empty() -> None:
    assert is_junk("\u200b\ufeff \u00ad\x00") and not is_junk(" ") and not is_junk("a\u200b")
    junk = "\u200b" * 10
    assert result_problems(junk, {"entities": [], "roles": [], "events": []}) == []
    found = result_problems(junk, {"entities": [_span(0, 3, "\u200b" * 3)], "events": []})
    assert found == ["junk-only text got {'entities': 1, 'roles': 0, 'events': 0}"]


def test_prose_has_the_length_asked_for() -> None:
    for n in (1, 7, 60_000, 200_000):
        text = prose(n, start=123)
        assert len(text) == n and not text.isspace()


def test_tally_counts_duplicates_and_missing_records(tmp_path: Path) -> None:
    source = Input(
        tmp_path / "in.jsonl", ["r0", "r1", "r2", "r3"], {1: "r0", 2: "r1", 3: "r2", 4: "r3"}
    )
    out = tmp_path / "out.jsonl"
    out.write_text("".join(json.dumps({"id": i}) + "\n" for i in ("r0", "r0", "r9")))
    errors = [{"line": 2, "id": None, "reason": "not JSON"}]  # named by its line
    Path(f"{out}.errors.jsonl").write_text("".join(json.dumps(e) + "\n" for e in errors))
    counts = tally(source, out)
    assert (counts.records, counts.duplicates, counts.missing, counts.strangers) == (4, 1, 2, 1)
