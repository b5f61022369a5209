import numpy as np

from serving.heads import HEAD_BY_NAME
from serving.schema import ENTITY_TAGS, EVENT_ROLE_TAGS
from serving.tokenizer import Encoded
from training.corpus.record import Coverage, LabelSet, Record, Sentence, Source, Span, Split
from training.features import IGNORE, O_FLEX, O_UNMARKED, featurize

TEXT = "Rebels fired rockets at Camp Alpha ."


def encoded(text: str) -> Encoded:
    offsets, pos = [], 0
    for tok in text.split(" "):
        offsets.append((pos, pos + len(tok)))
        pos += len(tok) + 1
    return Encoded(np.arange(len(offsets), dtype=np.int64) + 5, np.array(offsets, dtype=np.int64))


def record(**kw: object) -> Record:
    base: dict[str, object] = {
        "id": "x/1", "collection": "x", "split": Split.TRAIN, "text": TEXT,
        "source": Source(dataset="x", file="f", upstream_id="1"), "annotated": [],
    }  # fmt: skip
    return Record.model_validate(base | kw)


def test_exhaustive_layer_rules_out_only_covered_labels() -> None:
    r = record(
        annotated=[Coverage(label_set=LabelSet.ENTITIES, labels=["ORG", "LOC"])],
        spans=[Span(start=0, end=6, entity="ORG"), Span(start=24, end=34, entity="LOC")],
    )
    f = featurize(r, encoded(TEXT), size=10, stride=5)
    tags = f.token_targets["entity"][0].tolist()
    assert tags[0] == ENTITY_TAGS.index("B-ORG")
    assert tags[4:6] == [ENTITY_TAGS.index("B-LOC"), ENTITY_TAGS.index("I-LOC")]
    assert tags[1] == O_FLEX
    flex = f.flex["entity"]
    assert flex[ENTITY_TAGS.index("O")] and flex[ENTITY_TAGS.index("B-WEAPON")]
    assert not flex[ENTITY_TAGS.index("B-ORG")] and not flex[ENTITY_TAGS.index("I-LOC")]
    # Not annotated for roles: no role loss at all.
    assert (f.token_targets["event_role"][0] == IGNORE).all()
    assert (f.token_targets["actor_role"][0] == IGNORE).all()


def test_non_exhaustive_layer_rules_nothing_out_for_unmarked_tokens() -> None:
    r = record(
        annotated=[Coverage(label_set=LabelSet.ROLES, labels=["INSTRUMENT"], exhaustive=False)],
        spans=[Span(start=13, end=20, role="INSTRUMENT")],
    )
    f = featurize(r, encoded(TEXT), size=10, stride=5)
    role = f.token_targets["event_role"][0].tolist()
    assert [t for t in role if t != O_UNMARKED] == [9]  # B-INSTRUMENT
    assert role.count(O_UNMARKED) == len(role) - 1
    # flex marks O and the labels the dataset did not annotate: the loss weighs the
    # covered INSTRUMENT below O on unmarked tokens and leaves the others free.
    flex = f.flex["event_role"]
    assert flex[0] and flex[EVENT_ROLE_TAGS.index("B-VICTIM")]
    assert not flex[EVENT_ROLE_TAGS.index("B-INSTRUMENT")]
    # The actor-role head was not annotated by this record at all.
    assert (f.token_targets["actor_role"][0] == IGNORE).all()


def test_document_labels_pool_every_window_and_mask_uncovered_labels() -> None:
    r = record(
        annotated=[Coverage(label_set=LabelSet.EVENTS, labels=["BOMBING", "ARMED_ATTACK"])],
        events=["BOMBING"],
    )
    f = featurize(r, encoded(TEXT), size=4, stride=2)
    assert len(f.windows) == 3
    (group,) = f.groups
    assert [s[0] for s in group.segments] == [0, 1, 2]
    values, mask = group.targets["events"]
    labels = HEAD_BY_NAME["events"].labels
    assert values[labels.index("BOMBING")] == 1 and mask[labels.index("BOMBING")]
    assert mask.sum() == 2 and not mask[labels.index("PROTEST")]


def test_sentences_become_their_own_groups() -> None:
    r = record(
        annotated=[Coverage(label_set=LabelSet.SENTENCE_IPE, labels=["ARREST", "KILL"])],
        sentences=[Sentence(start=0, end=20, tasks={"ipe": ["ARREST"]})],
    )
    (group,) = featurize(r, encoded(TEXT), size=10, stride=5).groups
    assert group.segments == [(0, 0, 3)]
    values, mask = group.targets["ipe"]
    assert values.tolist() == [0, 1, 0, 0, 0] and mask.tolist() == [1, 1, 0, 0, 0]


def test_window_cap_keeps_a_contiguous_run() -> None:
    r = record(annotated=[Coverage(label_set=LabelSet.ENTITIES, labels=["ORG"])])
    f = featurize(r, encoded(TEXT), 2, 2, max_windows=2, rng=np.random.default_rng(1))
    assert len(f.windows) == 2
    assert f.windows[1][0] == f.windows[0][-1] + 1


def test_sentence_pooling_gives_the_document_one_segment_per_sentence() -> None:
    text = "Rebels fired rockets . Police arrested two ."
    r = record(
        text=text,
        annotated=[Coverage(label_set=LabelSet.EVENTS, labels=["ARREST", "ARMED_ATTACK"])],
        events=["ARREST"],
    )
    windows = featurize(r, encoded(text), size=10, stride=5).groups
    sentences = featurize(r, encoded(text), 10, 5, document_pooling="sentences").groups
    assert [g.segments for g in windows] == [[(0, 0, 8)]]
    # The splitter's sentences, each in the window holding it: a type one sentence holds
    # is learned from that sentence's mean, not pushed onto every token.
    assert [g.segments for g in sentences] == [[(0, 0, 4), (0, 4, 8)]]
    assert sentences[0].targets["events"][0].sum() == 1
