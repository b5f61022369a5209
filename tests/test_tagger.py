"""The public result: sentences, event records, and the Tagger on a real tiny artifact."""

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from serving.decode import Decoded, ScoredSpan
from serving.events import build_result
from serving.heads import HEAD_BY_NAME, SEGMENT_HEADS
from serving.result import Layer, ModelInfo, Result
from serving.schema import COARSE_OF, EventType
from serving.sentences import split_sentences
from serving.tagger import RuntimeSettings, Tagger

INFO = ModelInfo(name="conflict-tagger", version="test")


def test_sentences_skip_abbreviations_and_initials() -> None:
    text = (
        'Gen. Smith said the U.S. Army struck Raqqa on 3 Jan. 2017. "It was bad," he said! 12 died.'
    )
    got = [text[a:b] for a, b in split_sentences(text)]
    assert got == [
        "Gen. Smith said the U.S. Army struck Raqqa on 3 Jan. 2017.",
        '"It was bad," he said!',
        "12 died.",
    ]


def test_blank_lines_end_sentences_and_lowercase_starts_do_not() -> None:
    text = "Headline without a stop\n\nfirst line. still the same sentence.\n"
    got = [text[a:b] for a, b in split_sentences(text)]
    assert got == ["Headline without a stop", "first line. still the same sentence."]


@given(st.text(max_size=200))
def test_sentences_are_ordered_stripped_and_cover_every_word(text: str) -> None:
    spans = split_sentences(text)
    assert all(a < b for a, b in spans)
    assert all(b1 <= a2 for (_, b1), (a2, _) in itertools.pairwise(spans))
    for a, b in spans:
        assert text[a:b] == text[a:b].strip()
    covered = "".join(text[a:b] for a, b in spans)
    assert "".join(covered.split()) == "".join(text.split())


def probs(**chosen: float) -> dict[str, np.ndarray]:
    out = {h.name: np.zeros(len(h.labels)) for h in SEGMENT_HEADS}
    for label, p in chosen.items():
        out["events"][HEAD_BY_NAME["events"].labels.index(label)] = p
        # The coarse head agrees that there is conflict (serving.decode.event_labels).
        out["coarse"][HEAD_BY_NAME["coarse"].labels.index(COARSE_OF[EventType(label)])] = 0.9
    out["cameo_penta"][0] = 1.0
    return out


def test_a_weak_event_type_needs_the_coarse_head() -> None:
    text = "The minister opened a school in Gao. Rebels shelled Kayes."
    first, second = split_sentences(text)
    quiet = probs(ARMED_ATTACK=0.45)
    quiet["coarse"][:] = 0.2
    decoded = Decoded(entities=[], roles=[], document=quiet,
                      sentences=[quiet, probs(SHELLING_MISSILE=0.9)])  # fmt: skip
    result = build_result(text, [first, second], decoded, {"events": 0.3}, INFO)
    assert [(e.sentence, e.event_type) for e in result.events] == [(1, "SHELLING_MISSILE")]
    assert result.sentences[0].event_types == []
    # The document lists what its sentences report, not what its coarse head held back.
    assert [e.label for e in result.event_types] == ["SHELLING_MISSILE"]


def test_events_gather_the_spans_of_their_sentence() -> None:
    text = "Rebels shelled Kayes on Monday with mortars. Police arrested Ali in Gao."
    first, second = split_sentences(text)
    decoded = Decoded(
        entities=[ScoredSpan(15, 20, "LOC", 0.9), ScoredSpan(24, 30, "DATE", 0.9),
                  ScoredSpan(36, 43, "WEAPON", 0.8), ScoredSpan(0, 6, "ORG", 0.7),
                  ScoredSpan(61, 64, "PER", 0.9), ScoredSpan(68, 71, "LOC", 0.9)],
        roles=[ScoredSpan(0, 6, "PERP_ORG", 0.9), ScoredSpan(61, 64, "VICTIM", 0.6)],
        document=probs(SHELLING_MISSILE=0.9, ARREST=0.8),
        sentences=[probs(SHELLING_MISSILE=0.9), probs(ARREST=0.7, PROTEST=0.2)],
    )  # fmt: skip
    result = build_result(text, [first, second], decoded, {"events": 0.5}, INFO)
    assert [e.event_type for e in result.events] == [EventType.SHELLING_MISSILE, EventType.ARREST]
    shelling, arrest = result.events
    assert [r.text for r in shelling.perpetrators] == ["Rebels"]
    assert [r.text for r in shelling.instruments] == ["mortars"]
    assert [r.text for r in shelling.locations] == ["Kayes"]
    assert [r.text for r in shelling.dates] == ["Monday"]
    assert shelling.actors == []  # "Rebels" is already the perpetrator
    assert [(r.layer, r.text) for r in arrest.victims] == [(Layer.ROLES, "Ali")]
    assert [r.text for r in arrest.locations] == ["Gao"]
    assert result.sentences[1].coarse_types == ["STATE_COERCION"]
    assert {e.label for e in result.event_types} == {"SHELLING_MISSILE", "ARREST"}
    assert result.dataset_labels["cameo_penta"] == [HEAD_BY_NAME["cameo_penta"].labels[0]]
    for span in [*result.entities, *result.roles]:
        assert span.text == text[span.start : span.end]


def test_records_take_role_spans_of_nearby_sentences_without_events() -> None:
    text = "Gunmen attacked a bus in Gao. They used rifles. It was hot. Ali was hurt. It rained."
    spans = split_sentences(text)
    assert len(spans) == 5
    decoded = Decoded(
        entities=[ScoredSpan(25, 28, "LOC", 0.9), ScoredSpan(40, 46, "WEAPON", 0.8)],
        roles=[ScoredSpan(0, 6, "PERP_ORG", 0.9), ScoredSpan(60, 63, "VICTIM", 0.8)],
        document=probs(ARMED_ATTACK=0.9),
        sentences=[probs(ARMED_ATTACK=0.9), probs(), probs(), probs(), probs()],
    )  # fmt: skip
    (attack,) = build_result(text, spans, decoded, {"events": 0.5}, INFO).events
    # the weapon one sentence on and the victim three on (too far: MAX_HOP is 2)
    assert [r.text for r in attack.instruments] == ["rifles"]
    assert [r.text for r in attack.perpetrators] == ["Gunmen"] and attack.victims == []
    assert [r.text for r in attack.locations] == ["Gao"]  # locations only from its sentence
    decoded.sentences = [probs(ARMED_ATTACK=0.9), probs(), probs(), probs(ARREST=0.8), probs()]
    attack, arrest = build_result(text, spans, decoded, {"events": 0.5}, INFO).events
    assert [r.text for r in arrest.victims] == ["Ali"] and arrest.instruments == []
    assert [r.text for r in attack.instruments] == ["rifles"]


TEXTS = [
    "Rebels 💥 fired a rocket at Camp Alpha on 3 May. Police arrested 12 protesters.",
    "Cafe\u0301 owners met rebels near Kayes. " * 9,
    "ok",
]


@pytest.fixture(scope="module")
def tagger(tiny_artifact: Path) -> Tagger:
    return Tagger.from_artifact(tiny_artifact, RuntimeSettings(threads=1, batch_tokens=256))


def _spans(result: Result) -> list[tuple[int, int, str]]:
    return [(s.start, s.end, s.label) for s in [*result.entities, *result.roles]]


def test_batches_equal_one_at_a_time(tiny_artifact: Path) -> None:
    # fp32 runs batched, so scores may move by float rounding with the batch's other texts;
    # the int8 graph runs each window alone and is held to byte-identical results
    # (tests/test_int8.py).
    tagger = Tagger.from_artifact(
        tiny_artifact, RuntimeSettings(precision="fp32", batch_tokens=256)
    )
    together = tagger.tag(TEXTS)
    alone = [tagger.tag([t])[0] for t in TEXTS]
    for a, b in zip(together, alone, strict=True):
        assert _spans(a) == _spans(b)
        for x, y in zip([*a.entities, *a.roles], [*b.entities, *b.roles], strict=True):
            assert x.score == pytest.approx(y.score, abs=1e-3)
        assert [e.event_type for e in a.events] == [e.event_type for e in b.events]
        assert [e.label for e in a.event_types] == [e.label for e in b.event_types]
    assert together[1].windows > together[2].windows == 1  # windows of 12 tokens


@given(st.text(min_size=1, max_size=120))
def test_span_text_is_the_input_slice_for_any_unicode(text: str) -> None:
    tagger = _SHARED.get("tagger")
    if tagger is None:
        pytest.skip("needs the module tagger")
    (result,) = tagger.tag([text])
    for span in [*result.entities, *result.roles]:
        assert span.text == text[span.start : span.end]
    for event in result.events:
        for ref in event.perpetrators + event.locations + event.actors:
            assert ref.text == getattr(result, ref.layer.value)[ref.index].text


_SHARED: dict[str, Tagger] = {}


@pytest.fixture(autouse=True, scope="module")
def _share(tagger: Tagger) -> None:
    _SHARED["tagger"] = tagger


def test_result_names_the_model(tagger: Tagger, tiny_artifact: Path) -> None:
    (result,) = tagger.tag(["Rebels fired."])
    assert result.model.version == tagger.artifact.version
    assert result.model.name == "conflict-tagger"


@pytest.mark.parametrize("text", ["\u200b" * 40, "\ufeff\u00ad\u200b", "\x00\x00\x00", "\u200b"])
def test_text_without_tokens_gets_an_empty_answer(tagger: Tagger, text: str) -> None:
    # Pooling nothing would give every label probability 0.5: junk in, nothing out.
    assert tagger.count_tokens([text]) == 0
    result = tagger.tag([text])[0]
    assert result.entities == [] and result.roles == [] and result.events == []
    assert result.event_types == [] and all(s.event_types == [] for s in result.sentences)
    assert all(labels == [] for labels in result.dataset_labels.values())
