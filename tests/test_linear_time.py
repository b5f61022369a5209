"""The text stages around the model stay linear in the input on hostile texts.

Each was once quadratic on some input a client can send: the sentence splitter on runs of
"!" or "." (regex backtracking, and a copy of the text before every full stop), pooling
per sentence (a mask over every token for every sentence), and event slots (every span
for every sentence). Ten times the text may cost at most about ten times the time: the
bound below (30x) fails a quadratic stage (100x) with room for machine noise.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

import numpy as np
import pytest

from serving.decode import Decoded, ScoredSpan, sentence_means
from serving.events import build_result
from serving.heads import SEGMENT_HEADS
from serving.result import ModelInfo
from serving.sentences import split_sentences

PROSE = "Gunmen attacked a police post near Kayes on Monday, killing two officers. "
HOSTILE = {"bangs": "!", "dots": ".", "initials": "A. ", "prose": PROSE}


def _text(unit: str, n: int) -> str:
    return (unit * (n // len(unit) + 1))[:n]


def _seconds(run: Callable[[], object]) -> float:
    """Best of five, with the garbage collector off as `timeit` has it: late in a full
    test session the small text's few milliseconds once ran slow enough to read as 30.8x
    (idle: 12 to 14x); a collection landing inside them is one way that happens."""
    best = float("inf")
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(5):
            start = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - start)
    finally:
        if enabled:
            gc.enable()
    return best


def _growth(stage: Callable[[str], object], unit: str) -> float:
    small, large = _text(unit, 10_000), _text(unit, 100_000)
    return _seconds(lambda: stage(large)) / max(_seconds(lambda: stage(small)), 1e-4)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_sentence_splitting_is_linear(name: str) -> None:
    assert _growth(split_sentences, HOSTILE[name]) < 30


def _decode_stages(text: str) -> object:
    """Pooling per sentence and event records, on one token per two characters."""
    sentences = split_sentences(text)
    n = len(text) // 2
    offsets = np.stack([np.arange(n) * 2, np.arange(n) * 2 + 1], axis=1).astype(np.int64)
    width = sum(len(h.labels) for h in SEGMENT_HEADS)
    logits = np.zeros((n, width), dtype=np.float32)
    pooled = sentence_means(logits, offsets, sentences)
    document = {h.name: np.full(len(h.labels), 0.1, np.float32) for h in SEGMENT_HEADS}
    document["events"][0] = 0.9  # one event type, and so one event record, per sentence
    decoded = Decoded(
        entities=[ScoredSpan(int(s), int(s) + 1, "LOC", 0.9) for s in offsets[::5, 0]],
        roles=[ScoredSpan(int(s), int(s) + 1, "VICTIM", 0.9) for s in offsets[::7, 0]],
        document=document,
        sentences=[document for _ in pooled],
    )
    return build_result(text, sentences, decoded, {}, ModelInfo(name="m", version="1"))


@pytest.mark.parametrize("name", ["initials", "prose"])
def test_pooling_and_event_records_are_linear(name: str) -> None:
    assert _growth(_decode_stages, HOSTILE[name]) < 30


def test_sentence_means_match_a_mask_per_sentence() -> None:
    rng = np.random.default_rng(0)
    offsets = np.array([[0, 3], [4, 4], [4, 9], [10, 12], [13, 20], [21, 25]])
    logits = rng.normal(size=(6, 4)).astype(np.float32)
    sentences = [(0, 9), (10, 20), (21, 25), (26, 30), (5, 12)]
    got = sentence_means(logits, offsets, sentences)
    for (start, end), mean in zip(sentences, got, strict=True):
        inside = (offsets[:, 0] >= start) & (offsets[:, 1] <= end) & (offsets[:, 1] > offsets[:, 0])
        if not inside.any():
            assert mean is None
            continue
        assert mean is not None
        np.testing.assert_allclose(mean, logits[inside].mean(0), rtol=1e-5, atol=1e-6)
