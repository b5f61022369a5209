"""Character spans <-> BIO tags over tokens with character offsets.

Both training (labels for the token heads) and serving (decoding) go through these, so
the two sides cannot disagree on how a tag sequence reads.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

Offsets = Sequence[tuple[int, int]]


@dataclass(frozen=True, order=True)
class LabelledSpan:
    start: int
    end: int
    label: str


@dataclass(frozen=True)
class Tagging:
    tags: list[str]
    # Spans whose edges fall inside a token: tagged over every token they touch, and
    # listed here so the caller can report them.
    misaligned: list[LabelledSpan]


def spans_to_bio(offsets: Offsets, spans: Sequence[LabelledSpan]) -> Tagging:
    """BIO tags for tokens; empty (start == end) tokens, e.g. special tokens, stay `O`.

    Spans must not overlap each other (one layer); a ValueError names the pair.
    """
    ordered = sorted(spans)
    for a, b in itertools.pairwise(ordered):
        if b.start < a.end:
            raise ValueError(f"spans {a} and {b} overlap; one BIO layer cannot hold both")
    tags = ["O"] * len(offsets)
    misaligned = []
    for span in ordered:
        inside = [
            i for i, (s, e) in enumerate(offsets) if e > s and s < span.end and e > span.start
        ]
        if not inside:
            misaligned.append(span)
            continue
        first, last = offsets[inside[0]], offsets[inside[-1]]
        if first[0] != span.start or last[1] != span.end:
            misaligned.append(span)
        tags[inside[0]] = f"B-{span.label}"
        for i in inside[1:]:
            tags[i] = f"I-{span.label}"
    return Tagging(tags, misaligned)


def bio_to_spans(offsets: Offsets, tags: Sequence[str]) -> list[LabelledSpan]:
    """Spans from BIO tags. An I- that does not continue a span of its label starts one,
    so an orphan I- is kept rather than lost; empty tokens neither open nor close spans."""
    if len(offsets) != len(tags):
        raise ValueError(f"{len(offsets)} token offsets but {len(tags)} tags")
    spans: list[LabelledSpan] = []
    start = end = -1
    label = ""
    for (s, e), tag in zip(offsets, tags, strict=True):
        if e <= s:
            continue
        kind, _, name = tag.partition("-")
        if kind == "I" and name == label and start >= 0:
            end = e
            continue
        if start >= 0:
            spans.append(LabelledSpan(start, end, label))
            start = -1
        if kind in ("B", "I") and name:
            start, end, label = s, e, name
    if start >= 0:
        spans.append(LabelledSpan(start, end, label))
    return spans
