"""Model outputs (numpy) into spans and label probabilities, for one text at a time.

Tokens are read from the window where they have the most context (`windows.owner`);
a document's segment logits are the max over its windows of each window's mean, as in
training; a sentence's are the mean over its tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from serving.heads import HEAD_BY_NAME, SEGMENT_HEADS, SEGMENT_SLICES, TOKEN_HEADS
from serving.spans import bio_to_spans
from serving.windows import Window, owner


@dataclass(frozen=True)
class ScoredSpan:
    start: int
    end: int
    label: str
    score: float  # mean probability of the chosen tag over the span's tokens


@dataclass
class Decoded:
    entities: list[ScoredSpan]
    # Event roles and actor roles come from two heads: spans may overlap across the two.
    roles: list[ScoredSpan]
    document: dict[str, np.ndarray]  # head -> probabilities over its labels
    sentences: list[dict[str, np.ndarray]] = field(default_factory=list)
    windows: int = 1


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=axis, keepdims=True)
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


def head_probabilities(segment_logits: np.ndarray) -> dict[str, np.ndarray]:
    """Pooled segment logits [K] -> probabilities per head (sigmoid or softmax)."""
    out = {}
    for head in SEGMENT_HEADS:
        lg = segment_logits[SEGMENT_SLICES[head.name]]
        out[head.name] = _softmax(lg) if head.kind == "single" else _sigmoid(lg)
    return out


def word_starts(text: str, offsets: np.ndarray) -> np.ndarray:
    """True where a token begins a word: not glued to the previous token letter-to-letter."""
    starts = np.ones(len(offsets), dtype=bool)
    for i in range(1, len(offsets)):
        s, prev_end = int(offsets[i, 0]), int(offsets[i - 1, 1])
        if s == prev_end and s > 0 and text[s - 1].isalnum() and text[s : s + 1].isalnum():
            starts[i] = False
    return starts


def _spans(
    logits: np.ndarray, tags: tuple[str, ...], offsets: np.ndarray, starts: np.ndarray
) -> list[ScoredSpan]:
    """Spans at word level: a word takes the tag of its first sub-word token, so no span
    begins or ends inside a word ("rolda" + "n betancur" cannot happen)."""
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
    pairs = [tuple(o) for o in offsets.tolist()]
    out = []
    first = offsets[:, 0]
    for s in bio_to_spans(pairs, names):
        inside = starts & (first >= s.start) & (offsets[:, 1] <= s.end)
        out.append(ScoredSpan(s.start, s.end, s.label, float(chosen[inside].mean())))
    return out


def decode_text(
    text: str,
    offsets: np.ndarray,
    windows: list[Window],
    window_outputs: list[dict[str, np.ndarray]],
    sentences: list[tuple[int, int]] | None = None,
) -> Decoded:
    """Decode one text from its windows' outputs (content positions only, no specials)."""
    n = len(offsets)
    own = owner(windows, n)
    token_logits: dict[str, np.ndarray] = {}
    for name in [*TOKEN_HEADS, "segment"]:
        width = window_outputs[0][f"{name}_logits"].shape[-1]
        merged = np.zeros((n, width), dtype=np.float32)
        for w_index, (w, out) in enumerate(zip(windows, window_outputs, strict=True)):
            mine = np.nonzero(own[w.start : w.end] == w_index)[0]
            merged[w.start + mine] = out[f"{name}_logits"][mine]
        token_logits[name] = merged
    seg_windows = [
        out["segment_logits"].mean(0)
        for w, out in zip(windows, window_outputs, strict=True)
        if w.end > w.start
    ]
    doc = (
        np.max(np.stack(seg_windows), axis=0)
        if seg_windows
        else np.zeros(window_outputs[0]["segment_logits"].shape[-1], dtype=np.float32)
    )
    starts = word_starts(text, offsets)
    roles = [
        span
        for head in ("event_role", "actor_role")
        for span in _spans(token_logits[head], TOKEN_HEADS[head], offsets, starts)
    ]
    result = Decoded(
        entities=_spans(token_logits["entity"], TOKEN_HEADS["entity"], offsets, starts),
        roles=sorted(roles, key=lambda s: (s.start, s.end, s.label)),
        document=head_probabilities(doc),
        windows=len(windows),
    )
    for start, end in sentences or []:
        inside = (offsets[:, 0] >= start) & (offsets[:, 1] <= end) & (offsets[:, 1] > offsets[:, 0])
        pooled = token_logits["segment"][inside].mean(0) if inside.any() else np.zeros_like(doc)
        result.sentences.append(head_probabilities(pooled))
    return result


DEFAULT_THRESHOLD = 0.5


def chosen_labels(
    head: str, probs: np.ndarray, thresholds: Mapping[str, float] | None = None
) -> list[str]:
    """The labels a head predicts: the argmax of a softmax head; for a sigmoid head, those
    above its threshold (tuned on dev and shipped with the model, else 0.5)."""
    labels = HEAD_BY_NAME[head].labels
    if HEAD_BY_NAME[head].kind == "single":
        return [labels[int(probs.argmax())]]
    cut = (thresholds or {}).get(head, DEFAULT_THRESHOLD)
    return [lab for lab, p in zip(labels, probs, strict=True) if p > cut]


def decoded_json(
    text: str, result: Decoded, thresholds: Mapping[str, float] | None = None
) -> dict[str, object]:
    """A plain-JSON view of one result: spans with their text, labels above threshold."""

    def spans(found: list[ScoredSpan]) -> list[dict[str, object]]:
        return [
            {"start": s.start, "end": s.end, "text": text[s.start : s.end], "label": s.label,
             "score": round(s.score, 3)}
            for s in found
        ]  # fmt: skip

    def labels(head: str) -> list[dict[str, object]]:
        probs, names = result.document[head], HEAD_BY_NAME[head].labels
        chosen = [(n, float(probs[names.index(n)])) for n in chosen_labels(head, probs, thresholds)]
        return [{"label": n, "score": round(p, 3)} for n, p in sorted(chosen, key=lambda x: -x[1])]

    return {
        "entities": spans(result.entities),
        "roles": spans(result.roles),
        "event_types": labels("events"),
        "coarse_types": labels("coarse"),
        "windows": result.windows,
    }
