"""The promotion gate's lineage baseline: each dataset is held to the better of production
and the lineage's first model, so drops within the margin cannot add up over rounds."""

from __future__ import annotations

import pytest

from training.gate import FirstModel, GateRules, decide

PARITY = {"fp32_max_abs_diff": 1e-6, "tolerance": 1e-3, "int8_accepted": True}
RULES = GateRules(margin=0.01)
FIRST_TAG = "conflict-tagger:v0"


def _figs(**mains: float) -> dict[str, dict[str, float]]:
    return {name: {"main": value} for name, value in mains.items()}


def test_drops_within_the_margin_cannot_add_up_over_rounds() -> None:
    first = _figs(re3d=0.600, satp=0.80, corrections=0.10)
    round1 = _figs(re3d=0.592, satp=0.80, corrections=0.40)  # 0.8 points down: allowed
    one = decide(first, round1, PARITY, RULES, ("v0", "v1"), FirstModel("v0", FIRST_TAG))
    assert one.accepted, one.reasons

    round2 = _figs(re3d=0.584, satp=0.80, corrections=0.50)  # 0.8 more: 1.6 in all
    held = FirstModel("v0", FIRST_TAG, first)
    two = decide(round1, round2, PARITY, RULES, ("v1", "v2"), held)
    assert not two.accepted
    assert two.reasons == [
        "worse on re3d: 58.4 against 60.0 of the lineage's first model v0 (production: "
        "59.2), a drop of 1.6 points from it (allowed drop 1.0)"
    ]
    # Against production alone the second round passes: the ratchet the first model stops.
    assert decide(round1, round2, PARITY, RULES, ("v1", "v2")).accepted


def test_the_first_round_holds_the_candidate_to_production_and_records_it() -> None:
    old = _figs(re3d=0.60, corrections=0.30)
    new = _figs(re3d=0.595, corrections=0.50)
    result = decide(old, new, PARITY, RULES, ("v0", "v1"), FirstModel("v0", FIRST_TAG))
    plain = decide(old, new, PARITY, RULES, ("v0", "v1"))
    assert result.accepted and result.rows == plain.rows
    assert result.as_json()["first"] == {
        "version": "v0", "tag": FIRST_TAG, "scores": {"re3d": 0.60, "corrections": 0.30}
    }  # fmt: skip
    assert "First model of the lineage: production itself." in result.markdown()
    assert "| re3d | 60.0 | 59.5 | -0.5 | ok |" in result.markdown()


def test_the_table_shows_the_first_model_and_the_change_against_the_better() -> None:
    first = _figs(re3d=0.70, satp=0.70, corrections=0.10)
    old = _figs(re3d=0.65, satp=0.75, corrections=0.40)
    new = _figs(re3d=0.70, satp=0.74, corrections=0.45)
    slices = {"select": 6, "gate": 5, "rule": "a hash of the record id"}
    result = decide(old, new, PARITY, RULES, ("v1", "v2"), FirstModel("v0", None, first), slices)
    assert result.accepted, result.reasons
    table = result.markdown()
    assert "| collection | production | first model | candidate | change | verdict |" in table
    assert "| re3d | 65.0 | 70.0 | 70.0 | +0.0 | ok |" in table
    assert "| satp | 75.0 | 70.0 | 74.0 | -1.0 | ok |" in table
    assert "5 judged here" in table and "a hash of the record id" in table
    stored = result.as_json()
    assert stored["slices"] == slices
    assert stored["first"]["scores"] == {"re3d": 0.70, "satp": 0.70, "corrections": 0.10}
    assert {r["collection"]: r["first"] for r in stored["rows"]}["re3d"] == 0.70


def test_the_new_data_must_beat_the_first_model_too() -> None:
    first = _figs(re3d=0.6, corrections=0.50)
    result = decide(
        _figs(re3d=0.6, corrections=0.30), _figs(re3d=0.6, corrections=0.45), PARITY, RULES,
        ("v1", "v2"), FirstModel("v0", None, first),
    )  # fmt: skip
    assert not result.accepted
    assert result.reasons == [
        "not better on the new data's dev slice: 45.0 against 50.0 of the lineage's first "
        "model v0 (production: 30.0); it needs more than +0.0"
    ]


def test_a_first_model_other_than_production_needs_its_figures() -> None:
    with pytest.raises(ValueError, match="first model v0 has no figures"):
        decide(_figs(re3d=0.6), _figs(re3d=0.6), PARITY, RULES, ("v1", "v2"), FirstModel("v0"))
