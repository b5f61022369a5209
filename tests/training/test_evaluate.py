import numpy as np

from serving.decode import Decoded, chosen_labels, decoded_json, event_labels
from serving.heads import HEAD_BY_NAME
from training.corpus.record import Record, Source, Split, TaskLabels
from training.evaluate import evaluate_records, tune_thresholds

SATP = HEAD_BY_NAME["satp"].labels
CONFLICT = np.array([0.9, 0.0, 0.0, 0.0])  # the coarse head finds violence


def satp_record(i: int, labels: list[str]) -> Record:
    return Record(
        id=f"satp/{i}", collection="satp", split=Split.DEV, text="Maoists attacked a camp.",
        source=Source(dataset="satp", file="x", upstream_id=str(i)), annotated=[],
        tasks=TaskLabels(satp=labels),
    )  # fmt: skip


def decoded(satp_probs: np.ndarray) -> Decoded:
    return Decoded(entities=[], roles=[], document={"satp": satp_probs})


def test_sigmoid_heads_use_their_threshold_softmax_heads_the_argmax() -> None:
    probs = np.linspace(0.1, 0.4, len(SATP))
    assert chosen_labels("satp", probs) == []
    assert chosen_labels("satp", probs, {"satp": 0.35}) == [
        lab for lab, p in zip(SATP, probs, strict=True) if p > 0.35
    ]
    penta = np.array([0.1, 0.5, 0.2, 0.1, 0.1])
    assert chosen_labels("cameo_penta", penta, {"cameo_penta": 0.9}) == [
        HEAD_BY_NAME["cameo_penta"].labels[1]
    ]


def test_thresholds_are_tuned_on_the_records_and_ties_go_nearest_one_half() -> None:
    # Gold labels get 0.3 and the others 0.1: any cut in [0.1, 0.3) is perfect.
    records, outputs = [], []
    for i in range(6):
        gold = [SATP[i % len(SATP)]]
        records.append(satp_record(i, gold))
        outputs.append(decoded(np.array([0.3 if lab in gold else 0.1 for lab in SATP])))
    assert evaluate_records("satp", records, outputs)["main"] == 0.0  # 0.5 predicts nothing
    tuned = tune_thresholds({"satp": (records, outputs)})
    assert tuned == {"satp": 0.25}
    assert evaluate_records("satp", records, outputs, tuned)["main"] == 1.0


def test_json_view_lists_event_types_above_the_shipped_threshold() -> None:
    events = np.zeros(len(HEAD_BY_NAME["events"].labels))
    events[0], events[1] = 0.3, 0.2
    coarse = np.array([0.6, 0.0, 0.0, 0.0])  # VIOLENCE: the coarse head finds conflict
    result = Decoded([], [], {"events": events, "coarse": coarse})
    assert decoded_json("x", result)["event_types"] == []
    view = decoded_json("x", result, {"events": 0.15})
    names = HEAD_BY_NAME["events"].labels
    assert view["event_types"] == [
        {"label": names[0], "score": 0.3},
        {"label": names[1], "score": 0.2},
    ]


def test_below_one_half_event_types_need_the_coarse_head() -> None:
    names = HEAD_BY_NAME["events"].labels
    events = np.zeros(len(names))
    events[0], events[1] = 0.4, 0.6
    thresholds = {"events": 0.3}
    for coarse, expected in ((0.4, [names[1]]), (0.6, [names[0], names[1]])):
        segment = {"events": events, "coarse": np.array([coarse, 0.1, 0.1, 0.1])}
        assert event_labels(segment, thresholds) == expected
        # the coarse head's own threshold decides whether it finds conflict
        assert event_labels(segment, thresholds | {"coarse": coarse - 0.05}) == list(names[:2])


def test_corrections_are_scored_on_the_layers_each_record_was_annotated_for() -> None:
    from serving.decode import ScoredSpan
    from training.corpus.record import Coverage, LabelSet, Span

    events = HEAD_BY_NAME["events"].labels
    text = "gunmen shot a trader in gao."
    spans_and_events = Record(
        id="corrections/a", collection="corrections", split=Split.DEV, text=text,
        source=Source(dataset="corrections", file="c.jsonl", upstream_id="1"),
        annotated=[Coverage(label_set=LabelSet.ENTITIES, labels=["LOC"]),
                   Coverage(label_set=LabelSet.EVENTS, labels=list(events))],
        spans=[Span(start=24, end=27, entity="LOC")], events=["ARMED_ATTACK"],
    )  # fmt: skip
    probs = np.zeros(len(events))
    probs[events.index("ARMED_ATTACK")] = 0.9
    found = Decoded([ScoredSpan(24, 27, "LOC", 0.9), ScoredSpan(0, 6, "PER", 0.9)], [],
                    {"events": probs, "coarse": CONFLICT})  # fmt: skip
    figures = evaluate_records("corrections", [spans_and_events], [found])
    # PER is not among the labels annotated: not a false positive. No role layer: no figure.
    assert figures == {"entity_f1": 1.0, "event_micro_f1": 1.0, "main": 1.0}
    missed = Decoded([], [], {"events": np.zeros(len(events)), "coarse": np.zeros(4)})
    assert evaluate_records("corrections", [spans_and_events], [missed])["main"] == 0.0


def test_the_event_threshold_is_also_tuned_on_collections_that_label_event_types() -> None:
    """Articles whose events the head scores at 0.25 and news without events at 0.05:
    the tuned cut separates them, where the default 0.5 finds none."""
    from training.corpus.record import Coverage, LabelSet
    from training.evaluate import event_type_f1

    events = HEAD_BY_NAME["events"].labels
    records, outputs = [], []
    for i in range(8):
        gold = ["ARMED_ATTACK"] if i % 2 else []
        records.append(
            Record(
                id=f"satp/{i}", collection="satp", split=Split.DEV, text="A long article.",
                source=Source(dataset="satp", file="x", upstream_id=str(i)),
                annotated=[Coverage(label_set=LabelSet.EVENTS, labels=["ARMED_ATTACK"])],
                events=gold, tasks=TaskLabels(satp=["ARMED_ASSAULT"]),
            )
        )  # fmt: skip
        probs = np.full(len(events), 0.05)
        probs[events.index("ARMED_ATTACK")] = 0.25 if gold else 0.05
        outputs.append(
            Decoded(entities=[], roles=[], document={"satp": np.full(len(SATP), 0.9),
                                                      "events": probs, "coarse": CONFLICT})
        )  # fmt: skip
    assert event_type_f1(records, outputs, {}) == 0.0
    tuned = tune_thresholds({"satp": (records, outputs)})
    assert 0.05 <= tuned["events"] < 0.25
    assert event_type_f1(records, outputs, tuned) == 1.0


def _muc4_record(text: str, victim: str) -> Record:
    from serving.schema import Muc4Incident, Muc4Role
    from training.corpus.record import Filler, Mention, Template

    start = text.index(victim)
    mention = Mention(text=victim, start=start, end=start + len(victim))
    template = Template(
        incident_type="attack", incidents=[Muc4Incident.ATTACK], events=[],
        fillers=[Filler(role=Muc4Role.VICTIM, mentions=[mention])],
    )  # fmt: skip
    return Record(
        id="muc4/1", collection="muc4", split=Split.DEV, text=text,
        source=Source(dataset="muc4", file="x", upstream_id="1"), annotated=[],
        templates=[template],
    )  # fmt: skip


def test_muc4_drops_a_mention_inside_one_kept_for_its_role_as_grit_does() -> None:
    from serving.decode import ScoredSpan

    incident = {"muc4_incident": np.zeros(len(HEAD_BY_NAME["muc4_incident"].labels))}
    # "betancur" comes after "roldan betancur" and sits inside it: dropped, no false positive.
    later = _muc4_record("roldan betancur was shot. betancur died.", "roldan betancur")
    found = Decoded([], [ScoredSpan(26, 34, "VICTIM", 0.8), ScoredSpan(0, 15, "VICTIM", 0.9)],
                    incident)  # fmt: skip
    assert evaluate_records("muc4", [later], [found])["role_filler_precision"] == 1.0
    # In text order GRIT keeps a short mention before the long one: two, one false positive.
    first = _muc4_record("betancur was shot. roldan betancur died.", "roldan betancur")
    found = Decoded([], [ScoredSpan(0, 8, "VICTIM", 0.8), ScoredSpan(19, 34, "VICTIM", 0.9)],
                    incident)  # fmt: skip
    assert evaluate_records("muc4", [first], [found])["role_filler_precision"] == 0.5


def test_joined_reports_are_scored_report_by_report() -> None:
    from training.corpus.record import Sentence

    names = HEAD_BY_NAME["events"].labels
    text = "Jets struck a depot. Ministers met in Rome."
    record = Record(
        id="written_joined/a+b", collection="written_joined", split=Split.DEV, text=text,
        source=Source(dataset="written", file="x", upstream_id="a+b"), annotated=[],
        events=["AIRSTRIKE"],
        sentences=[Sentence(start=0, end=20, events=["AIRSTRIKE"]), Sentence(start=21, end=43)],
    )  # fmt: skip
    airstrike = np.array([0.9 if n == "AIRSTRIKE" else 0.0 for n in names])
    quiet = {"events": np.zeros(len(names)), "coarse": np.zeros(4)}
    loud = {"events": airstrike, "coarse": CONFLICT}
    # The airstrike spread over both reports: right in the first, wrong in the second.
    spread = Decoded([], [], loud, sentences=[loud, loud])
    figures = evaluate_records("written_joined", [record], [spread])
    assert figures["report_micro_f1"] == 2 / 3 and figures["no_event_kept"] == 0.0
    kept = Decoded([], [], loud, sentences=[loud, quiet])
    assert evaluate_records("written_joined", [record], [kept])["main"] == 1.0
