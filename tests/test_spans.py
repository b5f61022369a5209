import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from serving.spans import LabelledSpan, bio_to_spans, spans_to_bio

LABELS = ["PER", "ORG", "WEAPON"]


def tokenize(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(r"\w+|[^\w\s]", text)]


@st.composite
def text_and_spans(draw: st.DrawFn) -> tuple[str, list[tuple[int, int]], list[LabelledSpan]]:
    text = draw(st.text(min_size=1, max_size=80))
    offsets = tokenize(text)
    spans = []
    i = 0
    while i < len(offsets):
        if draw(st.booleans()):
            n = draw(st.integers(1, 3))
            j = min(i + n, len(offsets)) - 1
            label = draw(st.sampled_from(LABELS))
            spans.append(LabelledSpan(offsets[i][0], offsets[j][1], label))
            i = j + 1
            # Two adjacent spans of one label would read as one: keep a gap.
            i += 1
        else:
            i += 1
    return text, offsets, spans


@given(text_and_spans())
def test_spans_to_bio_to_spans_round_trips(
    case: tuple[str, list[tuple[int, int]], list[LabelledSpan]],
) -> None:
    text, offsets, spans = case
    tagging = spans_to_bio(offsets, spans)
    assert tagging.misaligned == []
    back = bio_to_spans(offsets, tagging.tags)
    assert back == spans
    for span in back:
        # Offsets index the original string, for any Unicode.
        piece = text[span.start : span.end]
        assert piece and piece == piece.strip()
        assert tokenize(piece)


def test_orphan_inside_tag_starts_a_span() -> None:
    offsets = [(0, 1), (2, 3), (4, 5), (6, 7)]
    assert bio_to_spans(offsets, ["I-PER", "I-PER", "O", "I-ORG"]) == [
        LabelledSpan(0, 3, "PER"),
        LabelledSpan(6, 7, "ORG"),
    ]


def test_label_change_inside_a_span_splits_it() -> None:
    offsets = [(0, 1), (2, 3)]
    assert bio_to_spans(offsets, ["B-PER", "I-ORG"]) == [
        LabelledSpan(0, 1, "PER"),
        LabelledSpan(2, 3, "ORG"),
    ]


def test_special_tokens_are_skipped() -> None:
    offsets = [(0, 0), (0, 4), (5, 9), (0, 0)]
    tags = spans_to_bio(offsets, [LabelledSpan(0, 9, "LOC")]).tags
    assert tags == ["O", "B-LOC", "I-LOC", "O"]
    assert bio_to_spans(offsets, tags) == [LabelledSpan(0, 9, "LOC")]


def test_misaligned_span_is_tagged_and_reported() -> None:
    offsets = [(0, 5), (6, 11)]
    span = LabelledSpan(2, 11, "LOC")
    tagging = spans_to_bio(offsets, [span])
    assert tagging.tags == ["B-LOC", "I-LOC"]
    assert tagging.misaligned == [span]


def test_overlapping_spans_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        spans_to_bio([(0, 3)], [LabelledSpan(0, 3, "A"), LabelledSpan(1, 3, "B")])


def test_length_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="2 token offsets but 1 tags"):
        bio_to_spans([(0, 1), (2, 3)], ["O"])


@given(
    st.lists(
        st.tuples(
            st.text(st.characters(blacklist_categories=["Zs", "Zl", "Zp", "Cc"]), min_size=1),
            st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_conll_spans_index_the_joined_text(rows: list[tuple[str, str]]) -> None:
    from training.corpus.conll import join_tokens

    tokens = [t for t, _ in rows]
    text, spans = join_tokens(tokens, [g for _, g in rows])
    assert text == " ".join(tokens)
    starts = [sum(len(t) + 1 for t in tokens[:i]) for i in range(len(tokens))]
    for span in spans:
        first = starts.index(span.start)
        last = next(i for i in range(len(tokens)) if starts[i] + len(tokens[i]) == span.end)
        assert text[span.start : span.end] == " ".join(tokens[first : last + 1])
