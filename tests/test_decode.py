"""Word-level span decoding: the most probable tag sequence BIO allows (checked against
every sequence where few tags make that possible), read into spans with arrays exactly
as reading the tags token by token reads them (the reference below is that loop); then
the edits made after: no span across a blank line, none ending on "of" or "the", no
weapon as an actor."""

from __future__ import annotations

import itertools
import re

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.decode import (
    ScoredSpan,
    Words,
    _moves,
    _softmax,
    _spans,
    actors_not_things,
    best_tags,
    decode_text,
    paragraph_starts,
    whole_names,
    word_starts,
)
from serving.heads import SEGMENT_HEADS, SEGMENT_SLICES, SEGMENT_WIDTH, TOKEN_HEADS
from serving.spans import bio_to_spans
from serving.windows import Window

TAGS = TOKEN_HEADS["entity"]


def bare(starts: np.ndarray) -> Words:
    """Words with no text behind them: no blank lines, no function words."""
    return Words("", starts, np.zeros(len(starts), dtype=bool))


def reference(
    logits: np.ndarray, tags: tuple[str, ...], offsets: np.ndarray, starts: np.ndarray
) -> list[ScoredSpan]:
    """Word tags from `best_tags`, then the token loop: inner tokens continue their word."""
    probs = _softmax(logits)
    filled = offsets[:, 1] > offsets[:, 0]
    first = starts.copy()
    first[0] = True
    heads = np.nonzero(first & filled)[0]
    if len(heads) == 0:
        return []
    path = dict(zip(heads.tolist(), best_tags(np.log(probs[heads]), tags).tolist(), strict=True))
    names: list[str] = []
    for i in range(len(offsets)):
        if i in path:
            names.append(tags[path[i]])
        elif first[i] or not names:
            names.append("O")  # an empty word start: skipped by bio_to_spans
        else:
            head = next(names[j] for j in range(i - 1, -1, -1) if j in path or j == 0)
            names.append("O" if head == "O" else "I-" + head.split("-", 1)[1])
    out = []
    for s in bio_to_spans([tuple(o) for o in offsets.tolist()], names):
        inside = [i for i in path if offsets[i, 0] >= s.start and offsets[i, 1] <= s.end]
        score = float(np.mean([probs[i, path[i]] for i in inside]))
        out.append(ScoredSpan(s.start, s.end, s.label, score))
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
    got, want = (
        _spans(logits, TAGS, offsets, bare(starts)),
        reference(logits, TAGS, offsets, starts),
    )
    assert [(s.start, s.end, s.label) for s in got] == [(s.start, s.end, s.label) for s in want]
    assert np.allclose([s.score for s in got], [s.score for s in want])


SMALL = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(st.floats(-3, 3), min_size=5, max_size=5), min_size=1, max_size=5),
    st.lists(st.booleans(), min_size=5, max_size=5),
)
def test_best_tags_is_the_most_probable_sequence_bio_allows(
    rows: list[list[float]], after_blank_line: list[bool]
) -> None:
    log_probs = np.log(_softmax(np.array(rows)))
    moves = _moves(SMALL)
    fresh = np.array(after_blank_line[: len(rows)])

    def score(path: tuple[int, ...]) -> float:
        # A fresh word starts over: no I- there, and no rule ties it to the word before.
        starts_over = [True, *fresh[1:]]
        if any(SMALL[t].startswith("I-") for t, f in zip(path, starts_over, strict=True) if f):
            return -np.inf
        pairs = zip(itertools.pairwise(path), starts_over[1:], strict=True)
        steps = sum(moves[a, b] for (a, b), f in pairs if not f)
        return float(steps + log_probs[np.arange(len(path)), list(path)].sum())

    best = max(itertools.product(range(len(SMALL)), repeat=len(rows)), key=score)
    assert np.isclose(score(tuple(best_tags(log_probs, SMALL, fresh).tolist())), score(best))


def test_a_name_read_as_two_spans_becomes_one() -> None:
    # "The Israeli government" as the release model read it in a whole article
    # (B-ORG 0.74, then B-ORG 0.71 over I-ORG 0.29, then I-ORG 0.97): one ORG span.
    tags = ("O", "B-ORG", "I-ORG")
    probs = np.array([[0.25, 0.74, 0.01], [0.0, 0.71, 0.29], [0.03, 0.0, 0.97]]) + 1e-6
    offsets = np.array([(0, 3), (4, 11), (12, 22)])
    spans = _spans(np.log(probs), tags, offsets, bare(np.ones(3, dtype=bool)))
    assert [(s.start, s.end, s.label) for s in spans] == [(0, 22, "ORG")]
    # An orphan I- with O before it opens no span of its own when B- is nearly as likely.
    probs = np.array([[0.9, 0.05, 0.05], [0.1, 0.4, 0.5]])
    spans = _spans(np.log(probs), tags, offsets[:2], bare(np.ones(2, dtype=bool)))
    assert [(s.start, s.end, s.label) for s in spans] == [(4, 11, "ORG")]
    assert abs(spans[0].score - 0.4) < 1e-6


def test_word_starts_follow_letters_glued_together() -> None:
    text = "Al-Shabaab attacked Mogadishu"
    offsets = np.array([[0, 2], [2, 3], [3, 10], [11, 19], [20, 24], [24, 29]])
    assert word_starts(text, offsets).tolist() == [True, True, True, True, True, False]


def _tagged(text: str, tags: list[str]) -> list[tuple[str, str]]:
    """Decode `text` (one token per word) whose words the model tags as `tags`."""
    offsets = np.array([m.span() for m in re.finditer(r"\w+|[^\w\s]", text)], dtype=np.int64)
    logits = np.full((len(offsets), len(TAGS)), -4.0, dtype=np.float32)
    logits[np.arange(len(offsets)), [TAGS.index(t) for t in tags]] = 4.0
    spans = _spans(logits, TAGS, offsets, Words.of(text, offsets))
    return [(text[s.start : s.end], s.label) for s in spans]


def test_spans_end_on_no_function_word() -> None:
    text = "the army of Mali in Gao said the IN"
    tags = ["B-ORG", "I-ORG", "I-ORG", "I-ORG", "I-ORG", "B-LOC", "O", "B-ORG", "B-LOC"]
    # "in" is cut from the name, "the" alone goes, an all-capital "IN" (Indiana) stays.
    assert _tagged(text, tags) == [("the army of Mali", "ORG"), ("Gao", "LOC"), ("IN", "LOC")]


def test_spans_end_on_no_loose_punctuation() -> None:
    text = "the fmln) and the fmln (fmln) , Mosul district UN- 16:"
    tags = ["B-ORG", "I-ORG", "I-ORG", "O", "B-ORG", "I-ORG", "I-ORG", "I-ORG", "I-ORG"]
    tags += ["B-LOC", "I-LOC", "I-LOC", "B-ORG", "I-ORG", "B-DATE", "I-DATE"]
    # A bracket the span opened stays; one it did not, a comma first, a hyphen last go.
    assert _tagged(text, tags) == [
        ("the fmln", "ORG"), ("the fmln (fmln)", "ORG"), ("Mosul district", "LOC"),
        ("UN", "ORG"), ("16", "DATE"),
    ]  # fmt: skip


def test_initials_and_abbreviations_keep_their_period() -> None:
    text = "the U.S. said on 13 Dec. that it saw Capt. Ames. US"
    tags = ["B-ORG", "I-ORG", "I-ORG", "I-ORG", "O", "O", "O", "B-DATE", "I-DATE", "O", "O"]
    tags += ["O", "O", "B-PER", "I-PER", "I-PER", "O", "B-ORG"]
    # "U.S" and "13 Dec" take their period; "Ames" (a name, not an abbreviation) does not.
    assert _tagged(text, tags) == [
        ("the U.S.", "ORG"),
        ("13 Dec.", "DATE"),
        ("Capt. Ames", "PER"),
        ("US", "ORG"),
    ]


def test_no_span_runs_across_a_blank_line() -> None:
    text = "five suspects in Paranaque\n\nCamp Crame said\nthe Mountain\nProvince police"
    offsets = np.array([m.span() for m in re.finditer(r"\S+", text)], dtype=np.int64)
    assert paragraph_starts(text, offsets).tolist() == [False] * 4 + [True] + [False] * 6
    tags = ["O", "O", "O", "B-LOC", "I-LOC", "I-LOC", "O", "O", "B-LOC", "I-LOC", "O"]
    # A single line break (hard-wrapped copy) does not stop "Mountain Province".
    assert _tagged(text, tags) == [
        ("Paranaque", "LOC"),
        ("Camp Crame", "LOC"),
        ("Mountain\nProvince", "LOC"),
    ]


def test_a_weapon_is_no_actor() -> None:
    # "Russian forces fired Shahed drones": the drones are a thing; the forces act.
    entities = [ScoredSpan(0, 14, "ORG", 0.9), ScoredSpan(21, 34, "MIL_PLATFORM", 0.9)]
    actors = [ScoredSpan(0, 14, "SOURCE_ACTOR", 0.9), ScoredSpan(21, 27, "SOURCE_ACTOR", 0.8)]
    assert actors_not_things(actors, entities) == actors[:1]
    # An unsure thing does not overrule the actor head.
    entities[0] = ScoredSpan(0, 14, "MIL_PLATFORM", 0.26)
    assert actors_not_things(actors, entities) == actors[:1]


def test_a_role_names_whole_entities() -> None:
    # "Tehrik-i-Taliban Pakistan fighters attacked": the perpetrator span stopped inside
    # the name; a role inside a name grows to it; one around names stays as it is.
    entities = [ScoredSpan(0, 25, "ORG", 0.9), ScoredSpan(40, 45, "LOC", 0.9)]
    roles = [
        ScoredSpan(0, 6, "PERP_ORG", 0.7), ScoredSpan(8, 12, "PERP_ORG", 0.9),
        ScoredSpan(30, 50, "VICTIM", 0.8),
    ]  # fmt: skip
    assert whole_names(roles, entities) == [
        ScoredSpan(0, 25, "PERP_ORG", 0.9),
        ScoredSpan(30, 50, "VICTIM", 0.8),
    ]


def _layer(data: st.DataObject, labels: list[str]) -> list[ScoredSpan]:
    """Spans of one layer (none overlaps another) over positions 0-40."""
    edges = sorted(set(data.draw(st.lists(st.integers(0, 40), min_size=2, max_size=12))))
    return [
        ScoredSpan(a, b, data.draw(st.sampled_from(labels)), data.draw(st.floats(0, 1)))
        for a, b in itertools.pairwise(edges)
        if data.draw(st.booleans())
    ]


def _overlap(a: ScoredSpan, b: ScoredSpan) -> bool:
    return a.start < b.end and b.start < a.end


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_bisection_finds_what_checking_every_span_finds(data: st.DataObject) -> None:
    entities, roles = _layer(data, ["ORG", "WEAPON"]), _layer(data, ["VICTIM", "PERP_ORG"])

    def grown(r: ScoredSpan) -> tuple[int, int]:
        inside = [e for e in entities if _overlap(e, r)]
        return min([r.start, *(e.start for e in inside)]), max([r.end, *(e.end for e in inside)])

    want: dict[tuple[int, int], ScoredSpan] = {}
    for r in roles:
        span = grown(r)
        if any(o is not r and o.start < span[1] and span[0] < o.end and grown(o) != span
               for o in roles):  # fmt: skip
            span = (r.start, r.end)
        if span not in want or want[span].score < r.score:
            want[span] = ScoredSpan(*span, r.label, r.score)
    got = whole_names(roles, entities)
    assert sorted(got, key=lambda s: s.start) == sorted(want.values(), key=lambda s: s.start)
    assert not any(_overlap(a, b) for a, b in itertools.combinations(got, 2))
    sure = [e for e in entities if e.label == "WEAPON" and e.score > 0.5]
    kept = [r for r in roles if not any(e.start <= r.start and r.end <= e.end for e in sure)]
    assert actors_not_things(roles, entities) == kept


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
