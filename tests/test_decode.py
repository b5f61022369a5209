"""Word-level span decoding with arrays gives exactly what reading the BIO tags token by
token gives (the reference below is the loop the arrays replaced)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.decode import ScoredSpan, _softmax, _spans, decode_text, word_starts
from serving.heads import SEGMENT_HEADS, SEGMENT_SLICES, SEGMENT_WIDTH, TOKEN_HEADS
from serving.spans import bio_to_spans
from serving.windows import Window

TAGS = TOKEN_HEADS["entity"]


def reference(
    logits: np.ndarray, tags: tuple[str, ...], offsets: np.ndarray, starts: np.ndarray
) -> list[ScoredSpan]:
    probs = _softmax(logits)
    best = probs.argmax(-1)
    chosen = probs[np.arange(len(best)), best]
    names: list[str] = []
    for i, tag_id in enumerate(best):
        if starts[i] or not names:
            names.append(tags[tag_id])
        else:
            head = names[-1]
            names.append("O" if head == "O" else "I-" + head.split("-", 1)[1])
    out = []
    for s in bio_to_spans([tuple(o) for o in offsets.tolist()], names):
        inside = starts & (offsets[:, 0] >= s.start) & (offsets[:, 1] <= s.end)
        out.append(ScoredSpan(s.start, s.end, s.label, float(chosen[inside].mean())))
    return out


@st.composite
def tokens(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 30))
    pos, rows = 0, []
    for _ in range(n):
        pos += draw(st.integers(0, 1))  # 0: glued to the previous token
        width = draw(st.integers(0, 3))  # 0: an empty token
        rows.append((pos, pos + width))
        pos += width
    # Few tags, with strong preferences, so that runs of one label and orphan I- occur.
    ids = draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
    logits = np.full((n, len(TAGS)), -4.0, dtype=np.float32)
    logits[np.arange(n), ids] = 4.0
    offsets = np.array(rows, dtype=np.int64).reshape(n, 2)
    # As word_starts allows: only a non-empty token glued to a non-empty one continues a word.
    glued = np.zeros(n, dtype=bool)
    glued[1:] = (offsets[1:, 0] == offsets[:-1, 1]) & (offsets[1:, 1] > offsets[1:, 0])
    glued[1:] &= offsets[:-1, 1] > offsets[:-1, 0]
    flips = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    return logits, offsets, ~(glued & flips)


@settings(max_examples=300, deadline=None)
@given(tokens())
def test_array_decoding_equals_the_token_loop(case: tuple[np.ndarray, ...]) -> None:
    logits, offsets, starts = case
    assert _spans(logits, TAGS, offsets, starts) == reference(logits, TAGS, offsets, starts)


def test_word_starts_follow_letters_glued_together() -> None:
    text = "Al-Shabaab attacked Mogadishu"
    offsets = np.array([[0, 2], [2, 3], [3, 10], [11, 19], [20, 24], [24, 29]])
    assert word_starts(text, offsets).tolist() == [True, True, True, True, True, False]


def _window_outputs(segment: np.ndarray) -> list[dict[str, np.ndarray]]:
    n = len(segment)
    out = {f"{h}_logits": np.zeros((n, len(t)), np.float32) for h, t in TOKEN_HEADS.items()}
    return [out | {"segment_logits": segment}]


def test_sentence_pooling_takes_the_strongest_sentence_not_the_window_mean() -> None:
    # Two sentences of two tokens; only the second says anything for the first label.
    text = "Aa bb. Cc dd."
    offsets = np.array([(0, 2), (3, 6), (7, 9), (10, 13)], dtype=np.int64)
    head = next(h for h in SEGMENT_HEADS if h.kind == "multi")
    segment = np.zeros((4, SEGMENT_WIDTH), np.float32)
    segment[2:, SEGMENT_SLICES[head.name].start] = 4.0
    windows = [Window(0, 4)]
    doc: dict[str, dict[str, np.ndarray]] = {}
    for pooling in ("windows", "sentences"):
        decoded = decode_text(text, offsets, windows, _window_outputs(segment), None, pooling)
        doc[pooling] = decoded.document
    # The window's mean is 2.0 (sigmoid 0.88); the second sentence's mean is 4.0 (0.98).
    assert abs(doc["windows"][head.name][0] - 1 / (1 + np.exp(-2.0))) < 1e-4
    assert abs(doc["sentences"][head.name][0] - 1 / (1 + np.exp(-4.0))) < 1e-4
