"""The per-document `uncertainty` of a Result, on hand-made decoder outputs (no model)."""

from __future__ import annotations

import numpy as np
import pytest

from serving.decode import Decoded, ScoredSpan
from serving.events import build_result, document_uncertainty, label_doubt, span_doubt, uncertainty
from serving.heads import HEAD_BY_NAME, SEGMENT_HEADS
from serving.result import ModelInfo, Result

TEXT = "Gunmen attacked a police post near Kayes. Two died."
SENTENCES = [(0, 41), (42, 51)]
EVENTS = HEAD_BY_NAME["events"].labels
MODEL = ModelInfo(name="conflict-tagger", version="test")


def _heads(p: float) -> dict[str, np.ndarray]:
    """Every segment head with all its probabilities at p."""
    return {h.name: np.full(len(h.labels), p) for h in SEGMENT_HEADS}


def _events(p: float, **chosen: float) -> dict[str, np.ndarray]:
    probs = _heads(p)
    for label, value in chosen.items():
        probs["events"][EVENTS.index(label)] = value
        probs["coarse"][0] = 0.999  # VIOLENCE: the coarse head lets the event types through
    return probs


def _decoded(document: dict[str, np.ndarray], sentence: float, span: float) -> Decoded:
    return Decoded(
        entities=[ScoredSpan(0, 6, "PER", span), ScoredSpan(35, 40, "LOC", 0.99)],
        roles=[ScoredSpan(0, 6, "PERP_IND", 0.99)],
        document=document,
        sentences=[_events(0.001, ARMED_ATTACK=sentence), _events(0.001)],
    )


def test_label_doubt_is_one_at_the_threshold_and_zero_at_the_ends() -> None:
    p = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    assert label_doubt(p, 0.5) == pytest.approx([0.0, 0.5, 1.0, 0.5, 0.0])
    # Each side is scaled by its own room: 0.6 is half-way from a 0.2 threshold to 1.
    assert label_doubt(np.array([0.1, 0.2, 0.6]), 0.2) == pytest.approx([0.5, 1.0, 0.5])
    assert label_doubt(np.array([1.0]), 1.0) == pytest.approx([1.0])  # no division by zero


def test_span_doubt_is_one_at_half_or_less() -> None:
    scores = [0.2, 0.5, 0.75, 1.0, float("nan")]
    assert span_doubt(scores) == pytest.approx([1.0, 1.0, 0.5, 0.0, 1.0])


def test_uncertainty_is_the_mean_doubt() -> None:
    assert uncertainty(np.array([0.1, 0.9, 0.2, 0.6, 0.2])) == pytest.approx(0.4)
    assert uncertainty(np.array([])) == 0.0
    assert uncertainty(np.array([1 / 3])) == 0.3333  # rounded to 4 decimals


def test_a_label_at_its_threshold_makes_the_document_undecided() -> None:
    thresholds = {"events": 0.35}
    decoded = _decoded(_events(0.001, ARMED_ATTACK=0.35), sentence=0.35, span=0.45)
    result = build_result(TEXT, SENTENCES, decoded, thresholds, MODEL)
    low = 1 - 0.349 / 0.35  # a label at 0.001 against the threshold 0.35
    # Document: 1, low, low; sentences: 1, low; spans: 1 (0.45), 0.02, 0.02.
    assert result.uncertainty == pytest.approx((3 + 3 * low + 0.04) / 8, abs=1e-4)
    assert document_uncertainty(decoded, thresholds) == result.uncertainty


def test_a_confident_document_scores_near_zero() -> None:
    decoded = _decoded(_events(0.001, ARMED_ATTACK=0.999), sentence=0.998, span=0.99)
    result = build_result(TEXT, SENTENCES, decoded, {}, MODEL)
    assert result.event_types[0].label == "ARMED_ATTACK"
    assert 0.0 <= result.uncertainty < 0.05


def test_the_default_threshold_applies_without_tuned_ones() -> None:
    decoded = _decoded(_events(0.001, BOMBING=0.5), sentence=0.001, span=0.99)
    # The document's three worst labels: BOMBING at 0.5 (doubt 1) and two at 0.001 (0.002);
    # two sentences at 0.002 and three spans at 0.99 (0.02).
    assert build_result(TEXT, SENTENCES, decoded, {}, MODEL).uncertainty == pytest.approx(
        (1 + 4 * 0.002 + 3 * 0.02) / 8, abs=1e-4
    )


def test_uncertainty_survives_the_json_round_trip() -> None:
    decoded = _decoded(_events(0.2), sentence=0.3, span=0.7)
    result = build_result(TEXT, SENTENCES, decoded, {}, MODEL)
    assert Result.model_validate_json(result.model_dump_json()).uncertainty == result.uncertainty
