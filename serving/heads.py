"""The model's outputs: what each head predicts, in which order.

Token heads give BIO tags per token. Segment heads give logits per token too: their
head is linear, so the mean of per-token logits over a segment equals the head applied
to the segment's mean hidden state. One encoder pass therefore serves any segmentation
(sentences, windows, documents) without a second run, and pooling happens in numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from serving.schema import (
    ACTOR_ROLE_TAGS,
    ENTITY_TAGS,
    EVENT_ROLE_TAGS,
    TASK_LABELS,
    CoarseType,
    EventType,
)


@dataclass(frozen=True)
class SegmentHead:
    name: str
    labels: tuple[str, ...]
    kind: Literal["multi", "single"]  # sigmoid per label, or softmax over labels


TOKEN_HEADS = MappingProxyType(
    {
        "entity": tuple(ENTITY_TAGS),
        "event_role": tuple(EVENT_ROLE_TAGS),
        "actor_role": tuple(ACTOR_ROLE_TAGS),
    }
)
# Which span layer of a record each token head reads.
TOKEN_LAYER = MappingProxyType({"entity": "entity", "event_role": "role", "actor_role": "role"})

SEGMENT_HEADS: tuple[SegmentHead, ...] = (
    SegmentHead("events", tuple(e.value for e in EventType), "multi"),
    # NON_CONFLICT is "none of the others", not a label to learn.
    SegmentHead(
        "coarse", tuple(c.value for c in CoarseType if c is not CoarseType.NON_CONFLICT), "multi"
    ),
    *(
        SegmentHead(
            name, tuple(m.value for m in enum), "single" if name == "cameo_penta" else "multi"
        )
        for name, enum in TASK_LABELS.items()
    ),
)
SEGMENT_WIDTH = sum(len(h.labels) for h in SEGMENT_HEADS)


def segment_slices() -> dict[str, slice]:
    """Where each segment head's logits sit in the concatenated segment output."""
    out, start = {}, 0
    for head in SEGMENT_HEADS:
        out[head.name] = slice(start, start + len(head.labels))
        start += len(head.labels)
    return out


SEGMENT_SLICES = MappingProxyType(segment_slices())
HEAD_BY_NAME = MappingProxyType({h.name: h for h in SEGMENT_HEADS})
