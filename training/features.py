"""Records into model inputs and masked targets.

A record becomes windows of token ids, per-token targets for the token (BIO) heads,
and segments with targets for the segment heads. Every target says what it does not
know: a label set the record is not annotated for gives no loss at all, and an `O`
token of an exhaustive layer only rules out the labels the dataset looked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from serving.heads import HEAD_BY_NAME, TOKEN_HEADS, TOKEN_LAYER
from serving.sentences import split_sentences
from serving.spans import LabelledSpan, spans_to_bio
from serving.tokenizer import Encoded
from serving.windows import Window, make_windows
from training.corpus.record import LabelSet, Record, TaskLabels

IGNORE = -100  # no loss for this token
O_FLEX = -1  # "O, or a label this dataset did not look for"
O_UNMARKED = -2  # not marked in a non-exhaustive layer: "O, or any label"

# Which label set fills which segment head, for the record and for its sentences.
RECORD_SETS: dict[str, LabelSet] = {
    "events": LabelSet.EVENTS,
    "coarse": LabelSet.COARSE,
    "cameo_penta": LabelSet.CAMEO_PENTA,
    "satp": LabelSet.SATP,
    "ipe": LabelSet.IPE,
    "insightcrime": LabelSet.INSIGHTCRIME,
    "muc4_incident": LabelSet.MUC4_INCIDENT,
}
SENTENCE_SETS: dict[str, LabelSet] = {
    "events": LabelSet.SENTENCE_EVENTS,
    "coarse": LabelSet.SENTENCE_COARSE,
    "ipe": LabelSet.SENTENCE_IPE,
}


@dataclass
class Group:
    """Segments pooled together (max over their logits): a document's windows, or one
    sentence. Targets are per segment head: (values, mask) over that head's labels."""

    segments: list[tuple[int, int, int]]  # (window index in the record, first, end)
    targets: dict[str, tuple[np.ndarray, np.ndarray]]
    document: bool = False  # the record's own labels, not one of its sentences'
    # head -> float32 [K]: a model's probabilities for a head this group has no gold for
    # (training/specialist.py, rehearsal)
    rehearsed: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Features:
    record_id: str
    collection: str
    windows: list[np.ndarray]  # content token ids per window
    shapes: list[np.ndarray]  # their word shapes (serving.shapes)
    token_targets: dict[str, list[np.ndarray]]  # head -> per window int targets
    flex: dict[str, np.ndarray]  # head -> bool [n_tags]: allowed for O_FLEX tokens
    groups: list[Group] = field(default_factory=list)
    misaligned: int = 0  # spans whose edges fall inside a token
    # head -> per window float16 [len, n_tags]: a teacher's distributions (training/teacher.py)
    soft: dict[str, list[np.ndarray]] = field(default_factory=dict)

    @property
    def n_tokens(self) -> int:
        return sum(len(w) for w in self.windows)


def _token_targets(record: Record, enc: Encoded, head: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-token targets for one token head and its O_FLEX allowed mask."""
    tags = TOKEN_HEADS[head]
    layer = TOKEN_LAYER[head]
    n = len(enc.ids)
    mine = {t.split("-", 1)[1] for t in tags if t != "O"}
    cov = record.coverage(LabelSet.ENTITIES if layer == "entity" else LabelSet.ROLES)
    if cov is None or not mine & set(cov.labels):
        return np.full(n, IGNORE, dtype=np.int64), np.ones(len(tags), dtype=bool), 0
    spans = [
        LabelledSpan(s.start, s.end, v.value)
        for s in record.spans
        if (v := getattr(s, layer)) is not None and v.value in mine
    ]
    tagging = spans_to_bio([tuple(o) for o in enc.offsets.tolist()], spans)
    index = {t: i for i, t in enumerate(tags)}
    unmarked = O_FLEX if cov.exhaustive else O_UNMARKED
    targets = np.array([index[t] if t != "O" else unmarked for t in tagging.tags], dtype=np.int64)
    # O and the labels the dataset did not annotate. An exhaustive layer's O rules out the
    # labels it covers; a non-exhaustive one's rules out nothing, but the loss weighs O
    # above its covered labels (training.unmarked_weight): learning WEAPON from MUC-4's
    # marked weapons alone, with no negatives, tagged every other word WEAPON.
    flex = np.array([t == "O" or t.split("-", 1)[1] not in cov.labels for t in tags], dtype=bool)
    return targets, flex, len(tagging.misaligned)


def _head_targets(
    record: Record, sets: dict[str, LabelSet], events: list[str], coarse: list[str],
    tasks: TaskLabels,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:  # fmt: skip
    """(values, mask) per segment head that this record or sentence is annotated for."""
    out = {}
    for head_name, label_set in sets.items():
        cov = record.coverage(label_set)
        if cov is None:
            continue
        head = HEAD_BY_NAME[head_name]
        if head_name == "events":
            positive = set(events)
        elif head_name == "coarse":
            positive = set(coarse)
        else:
            positive = set(getattr(tasks, head_name))
        values = np.array([label in positive for label in head.labels], dtype=np.float32)
        mask = np.array([label in cov.labels for label in head.labels], dtype=bool)
        if head.kind == "single" and not positive:
            continue  # a single-label head needs its one label
        out[head_name] = (values, mask)
    return out


def _sentence_segment(
    start: int, end: int, enc: Encoded, windows: list[Window]
) -> tuple[int, int, int] | None:
    """The tokens of characters start:end in the window that holds most of them."""
    inside = np.nonzero((enc.offsets[:, 0] >= start) & (enc.offsets[:, 1] <= end))[0]
    if len(inside) == 0:
        return None
    first, last = int(inside[0]), int(inside[-1]) + 1
    best = max(
        range(len(windows)),
        key=lambda i: min(last, windows[i].end) - max(first, windows[i].start),
    )
    w = windows[best]
    lo, hi = max(first, w.start), min(last, w.end)
    if hi <= lo:
        return None
    return best, lo - w.start, hi - w.start


def featurize(
    record: Record, enc: Encoded, size: int, stride: int, max_windows: int | None = None,
    rng: np.random.Generator | None = None, soft: dict[str, np.ndarray] | None = None,
    document_pooling: str = "windows",
) -> Features:  # fmt: skip
    """Windows, token targets and pooled groups of one record; `soft`: a teacher's
    per-token distributions per head, cut into the same windows. The document's group
    pools its windows, or (`document_pooling` "sentences") the sentences the serving
    splitter finds, as serving does.

    `max_windows` keeps a random contiguous run of windows (training only): its document
    labels then come from part of the text, a known source of noise traded for speed.
    """
    windows = make_windows(len(enc.ids), size, stride)
    if max_windows is not None and len(windows) > max_windows:
        first = int((rng or np.random.default_rng(0)).integers(0, len(windows) - max_windows + 1))
        windows = windows[first : first + max_windows]
    token_targets: dict[str, list[np.ndarray]] = {}
    flex: dict[str, np.ndarray] = {}
    misaligned = 0
    for head in TOKEN_HEADS:
        targets, flex[head], bad = _token_targets(record, enc, head)
        misaligned += bad
        token_targets[head] = [targets[w.start : w.end] for w in windows]
    feats = Features(
        record_id=record.id,
        collection=record.collection,
        windows=[enc.ids[w.start : w.end] for w in windows],
        shapes=[enc.shape_ids()[w.start : w.end] for w in windows],
        token_targets=token_targets,
        flex=flex,
        misaligned=misaligned,
        soft={h: [a[w.start : w.end] for w in windows] for h, a in (soft or {}).items()},
    )
    doc = _head_targets(
        record, RECORD_SETS, [e.value for e in record.events], [c.value for c in record.coarse],
        record.tasks,
    )  # fmt: skip
    if doc:
        segments = [(i, 0, w.end - w.start) for i, w in enumerate(windows) if w.end > w.start]
        if document_pooling == "sentences":
            found = (_sentence_segment(a, b, enc, windows) for a, b in split_sentences(record.text))
            segments = [s for s in found if s is not None] or segments
        if segments:
            feats.groups.append(Group(segments, doc, document=True))
    for sentence in record.sentences:
        sent_targets = _head_targets(
            record, SENTENCE_SETS, [e.value for e in sentence.events],
            [c.value for c in sentence.coarse], sentence.tasks,
        )  # fmt: skip
        seg = (
            _sentence_segment(sentence.start, sentence.end, enc, windows) if sent_targets else None
        )
        if seg is not None:
            feats.groups.append(Group([seg], sent_targets))
    return feats
