"""The inference path on synthetic logits: no model, a backend that marks known words."""

import numpy as np

from serving.engine import Engine, EngineSettings
from serving.heads import SEGMENT_SLICES, SEGMENT_WIDTH
from serving.schema import ACTOR_ROLE_TAGS, ENTITY_TAGS, EVENT_ROLE_TAGS
from serving.tokenizer import Tokenizer
from tests.training.conftest import tiny_tokenizer

TEXTS = [
    "Rebels 💥 fired rockets at Camp Alpha near Kayes .",
    "Cafe\u0301 owners in Kayes met rebels . " * 6,
]


class WordBackend:
    """B-LOC on 'camp', I-LOC on 'alpha', B-ORG on 'rebels'; events fire on 'rockets'."""

    def __init__(self, tok: Tokenizer) -> None:
        self.ids = {w: tok._tok.token_to_id(w) for w in ("camp", "alpha", "rebels", "rockets")}
        self.calls = 0

    def __call__(
        self, input_ids: np.ndarray, attention_mask: np.ndarray,
        shape_ids: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:  # fmt: skip
        self.calls += 1
        b, length = input_ids.shape
        ent = np.zeros((b, length, len(ENTITY_TAGS)), np.float32)
        ent[..., 0] = 1.0
        for word, tag in (("camp", "B-LOC"), ("alpha", "I-LOC"), ("rebels", "B-ORG")):
            ent[input_ids == self.ids[word], ENTITY_TAGS.index(tag)] = 5.0
        event_role = np.zeros((b, length, len(EVENT_ROLE_TAGS)), np.float32)
        event_role[..., 0] = 1.0
        event_role[input_ids == self.ids["rebels"], EVENT_ROLE_TAGS.index("B-PERP_ORG")] = 5.0
        actor_role = np.zeros((b, length, len(ACTOR_ROLE_TAGS)), np.float32)
        actor_role[..., 0] = 1.0
        actor_role[input_ids == self.ids["rebels"], ACTOR_ROLE_TAGS.index("B-SOURCE_ACTOR")] = 5.0
        seg = np.full((b, length, SEGMENT_WIDTH), -4.0, np.float32)
        seg[input_ids == self.ids["rockets"], SEGMENT_SLICES["events"].start + 2] = 40.0
        return {
            "entity_logits": ent,
            "event_role_logits": event_role,
            "actor_role_logits": actor_role,
            "segment_logits": seg,
        }


def engine(window: int = 6, stride: int = 4, budget: int = 64) -> Engine:
    tok = Tokenizer(tiny_tokenizer(TEXTS))
    return Engine(tok, WordBackend(tok), EngineSettings(window, stride, budget))


def test_spans_index_the_input_for_any_unicode() -> None:
    results = engine().run(TEXTS)
    for text, result in zip(TEXTS, results, strict=True):
        for span in [*result.entities, *result.roles]:
            assert 0 <= span.start < span.end <= len(text)
    first = results[0]
    found = [(TEXTS[0][s.start : s.end], s.label) for s in first.entities]
    assert found == [("Rebels", "ORG"), ("Camp Alpha", "LOC")]
    # Both role heads may mark the same words.
    roles = [(TEXTS[0][s.start : s.end], s.label) for s in first.roles]
    assert roles == [("Rebels", "PERP_ORG"), ("Rebels", "SOURCE_ACTOR")]


def test_a_word_takes_the_tag_of_its_first_piece() -> None:
    from serving.decode import Words, _spans

    text = "roldan betancur"
    offsets = np.array([[0, 5], [5, 6], [7, 15]])  # "rolda" "n" "betancur"
    tags = ("O", "B-VICTIM", "I-VICTIM", "B-TARGET_ACTOR", "I-TARGET_ACTOR")
    logits = np.zeros((3, 5), np.float32)
    logits[0, 1] = logits[1, 3] = logits[2, 2] = 5.0  # B-VICTIM, B-TARGET_ACTOR, I-VICTIM
    words = Words.of(text, offsets)
    assert words.starts.tolist() == [True, False, True]
    spans = _spans(logits, tags, offsets, words)
    assert [(text[s.start : s.end], s.label) for s in spans] == [("roldan betancur", "VICTIM")]


def test_long_texts_are_windowed_and_merged() -> None:
    small, large = engine(window=6, stride=4), engine(window=200, stride=100)
    a, b = small.run(TEXTS), large.run(TEXTS)
    assert a[1].windows > 1 and b[1].windows == 1
    assert [(s.start, s.end, s.label) for s in a[1].entities] == [
        (s.start, s.end, s.label) for s in b[1].entities
    ]
    assert len(a[1].entities) == 6  # every "rebels", none lost at a window edge


def test_document_events_are_the_max_over_windows() -> None:
    (result,) = engine(window=4, stride=4).run(TEXTS[:1])
    probs = result.document["events"]
    assert probs[2] > 0.99 and probs[0] < 0.05  # only the window with "rockets" fires


def test_batches_equal_one_at_a_time() -> None:
    e = engine(budget=16)
    together = e.run(TEXTS)
    alone = [e.run([t])[0] for t in TEXTS]
    for a, b in zip(together, alone, strict=True):
        assert a.entities == b.entities
        np.testing.assert_allclose(a.document["events"], b.document["events"], rtol=1e-6)
