"""Steps skip when their inputs are unchanged, and the gate's decisions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from training.gate import GateRules, decide
from training.pipeline import Step, fingerprint, run_step

PARITY = {"fp32_max_abs_diff": 1e-6, "tolerance": 1e-3, "int8_accepted": False}


def test_fingerprint_of_files_folders_and_values(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("one")
    before = fingerprint(tmp_path / "d")
    assert fingerprint(tmp_path / "d") == before
    (tmp_path / "d" / "a.txt").write_text("two")
    assert fingerprint(tmp_path / "d") != before
    assert fingerprint(tmp_path / "nothing") == "missing"
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})


def test_a_step_runs_again_only_when_an_input_or_output_changes(tmp_path: Path) -> None:
    src, out, state = tmp_path / "in.txt", tmp_path / "out.txt", tmp_path / "steps"
    src.write_text("a")
    calls: list[str] = []

    def work() -> dict[str, Any]:
        calls.append(src.read_text())
        out.write_text(src.read_text().upper())
        return {"chars": len(src.read_text())}

    def step() -> Step:
        return Step("upper", {"src": src, "mode": "upper"}, [out], work)

    first = run_step(step(), state, log=lambda _: None)
    again = run_step(step(), state, log=lambda _: None)
    assert (first.skipped, again.skipped, again.summary) == (False, True, {"chars": 1})
    src.write_text("bb")
    assert not run_step(step(), state, log=lambda _: None).skipped
    out.unlink()
    assert not run_step(step(), state, log=lambda _: None).skipped
    assert calls == ["a", "bb", "bb"]
    assert json.loads((state / "upper.json").read_text())["summary"] == {"chars": 2}


def test_a_failed_step_is_not_recorded_as_done(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"

    def fail() -> dict[str, Any]:
        out.write_text("half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run_step(Step("s", {"v": 1}, [out], fail), tmp_path / "steps", log=lambda _: None)
    assert not (tmp_path / "steps" / "s.json").exists()
    ok = run_step(Step("s", {"v": 1}, [out], lambda: {}), tmp_path / "steps", log=lambda _: None)
    assert not ok.skipped


def _figs(**mains: float) -> dict[str, dict[str, float]]:
    return {name: {"main": value} for name, value in mains.items()}


def test_gate_accepts_a_candidate_better_on_new_data_and_within_the_margin() -> None:
    old = _figs(re3d=0.60, satp=0.80, corrections=0.30)
    new = _figs(re3d=0.595, satp=0.85, corrections=0.50)
    result = decide(old, new, PARITY, GateRules(margin=0.01), ("v1", "v2"))
    assert result.accepted and result.reasons == []
    assert [r.collection for r in result.rows] == ["re3d", "satp", "corrections"]
    table = result.markdown()
    assert "| re3d | 60.0 | 59.5 | -0.5 | ok |" in table
    assert "| corrections | 30.0 | 50.0 | +20.0 | ok |" in table
    assert "promoted" in table


def test_gate_rejects_a_drop_beyond_the_margin_and_says_where() -> None:
    old = _figs(re3d=0.60, satp=0.80, corrections=0.30)
    new = _figs(re3d=0.55, satp=0.80, corrections=0.50)
    result = decide(old, new, PARITY, GateRules(margin=0.01), ("v1", "v2"))
    assert not result.accepted
    assert result.reasons == ["worse on re3d: 55.0 against production's 60.0 (allowed drop 1.0)"]
    assert "| re3d | 60.0 | 55.0 | -5.0 | worse |" in result.markdown()


def test_gate_rejects_no_gain_on_the_new_data_and_a_missing_dev_slice() -> None:
    old = _figs(re3d=0.60, corrections=0.30)
    same = decide(old, _figs(re3d=0.60, corrections=0.30), PARITY, GateRules(), ("a", "b"))
    assert not same.accepted and "not better on the new data's dev slice" in same.reasons[0]
    small = decide(old, _figs(re3d=0.6, corrections=0.32), PARITY, GateRules(min_gain=0.05),
                   ("a", "b"))  # fmt: skip
    assert not small.accepted
    none = decide(_figs(re3d=0.6), _figs(re3d=0.6), PARITY, GateRules(), ("a", "b"))
    assert not none.accepted and "no dev slice" in none.reasons[0]


def test_gate_without_production_checks_parity_only() -> None:
    result = decide(None, _figs(re3d=0.2, corrections=0.1), PARITY, GateRules(), (None, "v1"))
    assert result.accepted
    assert "| re3d | - | 20.0 | - | ok |" in result.markdown()
    bad = decide(None, _figs(corrections=0.1), {**PARITY, "fp32_max_abs_diff": 0.1},
                 GateRules(), (None, "v1"))  # fmt: skip
    assert bad.reasons == ["the fp32 graph failed its parity check against torch"]
