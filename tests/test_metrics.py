"""Metrics on hand-computed cases (the arithmetic is in the comments) and against the
reference implementations where they are installed (seqeval, sklearn, scipy)."""

import itertools
import random
from fractions import Fraction

import numpy as np
import pytest
from seqeval.metrics import classification_report, f1_score

from serving.schema import Muc4Incident, Muc4Role
from training.corpus.record import Filler, Mention, Template
from training.metrics import (
    _injective_maps,
    _max_matching,
    entity_scores,
    gold_templates,
    grit_doc_gold,
    grit_role_filler_scores,
    gtt_template_scores,
    incident_type_doc_f1,
    multiclass_scores,
    multilabel_scores,
    normalize_mention,
)


def f(x: str) -> float:
    return float(Fraction(x))


# --- entity_scores ---------------------------------------------------------------------


def test_entity_scores_by_hand() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    # The orphan I-ORG starts an entity (conlleval's lenient reading).
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["I-ORG", "O"]]
    s = entity_scores(gold, pred)
    # LOC: tp 0, pred 0, gold 1 -> 0/0/0. ORG: tp 1, pred 2, gold 1 -> P 1/2, R 1, F 2/3.
    # PER: 1/1/1. Micro: tp 2, pred 3, gold 3 -> 2/3 each.
    assert list(s.per_type) == ["LOC", "ORG", "PER"]
    assert (s.per_type["LOC"].f1, s.per_type["LOC"].n_gold) == (0.0, 1)
    org = s.per_type["ORG"]
    assert (org.precision, org.recall, org.f1) == pytest.approx((0.5, 1.0, f("2/3")))
    assert s.per_type["PER"].f1 == 1.0
    assert (s.micro.tp, s.micro.n_pred, s.micro.n_gold) == (2, 3, 3)
    assert s.micro.f1 == pytest.approx(f("2/3"))
    # Macro: F (0 + 2/3 + 1)/3 = 5/9, P (0 + 1/2 + 1)/3 = 1/2, R (0 + 1 + 1)/3 = 2/3.
    assert s.macro_f1 == pytest.approx(f("5/9"))
    assert s.macro_precision == pytest.approx(0.5)
    assert s.macro_recall == pytest.approx(f("2/3"))


def test_entity_scores_equal_seqeval_on_random_tags() -> None:
    rng = random.Random(7)
    tags = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    gold = [[rng.choice(tags) for _ in range(rng.randint(1, 12))] for _ in range(60)]
    pred = [[t if rng.random() < 0.7 else rng.choice(tags) for t in s] for s in gold]
    ours = entity_scores(gold, pred)
    # zero_division=0: seqeval's default "warn" gives the same 0 for a type with no
    # prediction or no gold but emits UndefinedMetricWarning, an error under our pytest.
    assert ours.micro.f1 == f1_score(gold, pred, average="micro", zero_division=0)
    assert ours.macro_f1 == f1_score(gold, pred, average="macro", zero_division=0)
    report = classification_report(gold, pred, output_dict=True, zero_division=0)
    for kind, score in ours.per_type.items():
        row = report[kind]
        assert (score.precision, score.recall, score.f1) == (
            row["precision"],
            row["recall"],
            row["f1-score"],
        )
        assert score.n_gold == row["support"]
    assert ours.macro_precision == report["macro avg"]["precision"]
    assert ours.macro_recall == report["macro avg"]["recall"]
    assert ours.micro.precision == report["micro avg"]["precision"]


def test_entity_scores_refuses_a_length_mismatch() -> None:
    with pytest.raises(ValueError, match="sentence 1: 2 gold tags but 1 predicted"):
        entity_scores([["O"], ["B-PER", "O"]], [["O"], ["B-PER"]])
    with pytest.raises(ValueError, match="2 gold sentences but 1 predicted"):
        entity_scores([["O"], ["O"]], [["O"]])


def test_entity_scores_refuses_a_non_tag() -> None:
    with pytest.raises(ValueError, match="'PER' is not O or a B-/I-/E-/S- tag"):
        entity_scores([["PER"]], [["O"]])


def test_entity_scores_without_any_entity_are_zero() -> None:
    s = entity_scores([["O", "O"]], [["O", "O"]])
    assert (s.micro.f1, s.macro_f1, dict(s.per_type)) == (0.0, 0.0, {})


# --- multilabel_scores -----------------------------------------------------------------

LABELS = ["A", "B", "C", "D", "E"]
ML_GOLD: list[set[str]] = [{"A", "B"}, {"C"}, set(), set(), {"D"}]
ML_PRED: list[set[str]] = [{"A"}, {"C", "D"}, set(), {"B"}, set()]


def test_multilabel_example_based_by_hand() -> None:
    # inst  gold   pred   |g&p|  P      R      F1=2|g&p|/(|g|+|p|)  acc=|g&p|/|g|p|
    # 0     AB     A      1      1      1/2    2/3                  1/2
    # 1     C      CD     1      1/2    1      2/3                  1/2
    # 2     -      -      skipped everywhere (both empty)
    # 3     -      B      0      0      (g empty: skipped)  0      0
    # 4     D      -      0      (p empty: skipped)  0    0      0
    s = multilabel_scores(ML_GOLD, ML_PRED, LABELS)
    assert s.example_precision == pytest.approx(0.5)  # (1 + 1/2 + 0) / 3
    assert s.example_recall == pytest.approx(0.5)  # (1/2 + 1 + 0) / 3
    assert s.example_f1 == pytest.approx(f("1/3"))  # (2/3 + 2/3 + 0 + 0) / 4
    assert s.example_accuracy == pytest.approx(0.25)  # (1/2 + 1/2 + 0 + 0) / 4
    assert (s.n_instances, s.n_skipped) == (5, 1)


def test_multilabel_label_based_by_hand() -> None:
    s = multilabel_scores(ML_GOLD, ML_PRED, LABELS)
    # A: tp 1 -> F 1. B: fp (inst 3), fn (inst 0) -> 0. C: tp 1 -> 1. D: fp (1), fn (4)
    # -> 0. E: never seen -> 0, still averaged (sklearn over all indicator columns).
    assert [s.per_label[x].f1 for x in LABELS] == [1.0, 0.0, 1.0, 0.0, 0.0]
    assert s.macro_f1 == pytest.approx(0.4)  # (1 + 0 + 1 + 0 + 0) / 5
    # Micro: tp 2, fp 2, fn 2 -> 1/2 each.
    assert (s.micro.tp, s.micro.n_pred, s.micro.n_gold) == (2, 4, 4)
    assert s.micro.f1 == pytest.approx(0.5)


def test_multilabel_label_based_equals_sklearn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    gold_m = rng.random((40, 5)) < 0.3
    pred_m = rng.random((40, 5)) < 0.3
    gold = [{LABELS[j] for j in np.flatnonzero(row)} for row in gold_m]
    pred = [{LABELS[j] for j in np.flatnonzero(row)} for row in pred_m]
    s = multilabel_scores(gold, pred, LABELS)
    # zero_division=0 is what ConfliBERT's default "warn" yields, without the warning.
    for average, ours in (("micro", s.micro.f1), ("macro", s.macro_f1)):
        ref = metrics.f1_score(gold_m, pred_m, average=average, zero_division=0)
        assert ours == pytest.approx(ref, abs=1e-12)
    ref_p = metrics.precision_score(gold_m, pred_m, average="macro", zero_division=0)
    assert s.macro_precision == pytest.approx(ref_p, abs=1e-12)


def test_multilabel_all_empty_is_zero_not_one() -> None:
    s = multilabel_scores([set(), set()], [set(), set()], LABELS)
    assert (s.example_f1, s.example_precision, s.example_recall) == (0.0, 0.0, 0.0)
    assert s.n_skipped == 2


def test_multilabel_rejects_unknown_labels_and_misalignment() -> None:
    with pytest.raises(ValueError, match="predicted instance 0: labels \\['Z'\\]"):
        multilabel_scores([{"A"}], [{"Z"}], LABELS)
    with pytest.raises(ValueError, match="1 gold instances but 0 predicted"):
        multilabel_scores([{"A"}], [], LABELS)


# --- multiclass_scores -----------------------------------------------------------------


def test_multiclass_macro_over_classes_seen() -> None:
    gold = ["a", "a", "b", "c"]
    pred = ["a", "b", "b", "d"]
    s = multiclass_scores(gold, pred)
    # a: tp 1, pred 1, gold 2 -> F 2/3. b: tp 1, pred 2, gold 1 -> 2/3. c, d: 0.
    # A fifth class "e" seen on neither side is not averaged: (2/3 + 2/3) / 4 = 1/3.
    assert list(s.per_class) == ["a", "b", "c", "d"]
    assert s.macro_f1 == pytest.approx(f("1/3"))
    assert s.accuracy == 0.5
    metrics = pytest.importorskip("sklearn.metrics")
    ref = metrics.f1_score(gold, pred, average="macro", zero_division=0)
    assert s.macro_f1 == pytest.approx(ref, abs=1e-12)


# --- MUC-4: GRIT -----------------------------------------------------------------------


def test_normalize_mention_like_squad() -> None:
    assert normalize_mention("The F.M.L.N.") == "fmln"
    assert normalize_mention("  a  Car-Bomb ") == "carbomb"
    assert normalize_mention("theater") == "theater"  # whole words only


GRIT_GOLD = [
    {
        "Victim": [["the mayor", "Pedro Ruiz"], ["two guards"]],
        "Weapon": [["bomb"]],
        "PerpOrg": [["FMLN", "Farabundo Marti National Liberation Front"]],
    },
    {"Target": [["embassy"]]},
]
GRIT_PRED = [
    {
        # "Pedro Ruiz" matches the entity's second mention; "mayor" the same entity
        # again (one-to-one: a false positive); "guards" matches nothing exactly.
        "Victim": ["Pedro Ruiz", "mayor", "guards"],
        "Weapon": ["a bomb", "bomb"],  # both normalise to "bomb": one match
        "PerpOrg": ["the F.M.L.N."],  # normalises to "fmln"
    },
    {"PerpInd": ["gunmen"]},
]


def test_grit_by_hand() -> None:
    s = grit_role_filler_scores(GRIT_GOLD, GRIT_PRED)
    # role     tp pred gold  P    R    F
    # PerpInd  0  1    0     0    0    0
    # PerpOrg  1  1    1     1    1    1
    # Target   0  0    1     0    0    0
    # Victim   1  3    2     1/3  1/2  2/5
    # Weapon   1  2    1     1/2  1    2/3
    counts = {r: (x.tp, x.n_pred, x.n_gold) for r, x in s.per_role.items()}
    assert counts == {
        "PerpInd": (0, 1, 0),
        "PerpOrg": (1, 1, 1),
        "Target": (0, 0, 1),
        "Victim": (1, 3, 2),
        "Weapon": (1, 2, 1),
    }
    assert s.per_role["Victim"].f1 == pytest.approx(0.4)
    assert s.per_role["Weapon"].f1 == pytest.approx(f("2/3"))
    # Micro: tp 3, pred 7, gold 5 -> P 3/7, R 3/5, F 2*(9/35)/(36/35) = 1/2.
    assert (s.micro.precision, s.micro.recall, s.micro.f1) == pytest.approx((f("3/7"), 0.6, 0.5))


def test_grit_matching_is_optimal_not_greedy() -> None:
    # "y" is a mention of both gold entities; greedy would give it entity 0 and leave
    # "x" unmatched. The optimal one-to-one pairing (GRIT's linear_sum_assignment) is 2.
    s = grit_role_filler_scores([{"Victim": [["y", "x"], ["y"]]}], [{"Victim": ["y", "x"]}])
    assert s.per_role["Victim"].tp == 2


def test_max_matching_equals_linear_sum_assignment() -> None:
    optimize = pytest.importorskip("scipy.optimize")
    rng = random.Random(11)
    words = list("abcdefg")
    for _ in range(200):
        gold = [frozenset(rng.sample(words, rng.randint(1, 3))) for _ in range(rng.randint(0, 4))]
        pred = [rng.choice(words) for _ in range(rng.randint(0, 5))]
        scores = np.array([[float(m in e) for m in pred] for e in gold]).reshape(
            len(gold), len(pred)
        )
        rows, cols = optimize.linear_sum_assignment(-scores)
        assert _max_matching(gold, pred) == int(scores[rows, cols].sum())


def test_grit_rejects_unknown_roles() -> None:
    with pytest.raises(ValueError, match="unknown role\\(s\\) \\['VICTIM'\\]"):
        grit_role_filler_scores([{}], [{"VICTIM": ["x"]}])


def test_grit_doc_gold_merges_templates_like_grit() -> None:
    templates = [
        ("attack", {"Victim": [["Pedro Ruiz"]]}),
        # A superset of a kept entity is skipped, not merged into it.
        ("attack", {"Victim": [["Pedro Ruiz", "the mayor"], ["guard"]], "Target": [["Embassy"]]}),
    ]
    gold = grit_doc_gold(templates)
    assert gold["Victim"] == [["pedro ruiz"], ["guard"]]
    assert gold["Target"] == [["embassy"]]
    assert gold["PerpInd"] == []


def test_gold_templates_from_records() -> None:
    t = Template(
        incident_type="bombing / attack",
        incidents=[Muc4Incident.BOMBING, Muc4Incident.ATTACK],
        events=[],
        fillers=[
            Filler(
                role=Muc4Role.VICTIM,
                mentions=[
                    Mention(text="mayor", start=0, end=5),
                    Mention(text="ruiz", start=9, end=13),
                ],
            )
        ],
    )
    [(incident, fillers)] = gold_templates([t])
    assert incident == "bombing / attack"
    assert fillers["Victim"] == [["mayor", "ruiz"]]
    assert fillers["Weapon"] == []


# --- MUC-4: GTT ------------------------------------------------------------------------


def test_injective_maps_follow_gtt_product_order() -> None:
    for n_pred, n_gold in [(0, 2), (1, 0), (2, 2), (3, 2), (2, 3)]:
        values = [*range(n_gold), -1]
        expected = [
            p
            for p in itertools.product(values, repeat=n_pred)
            if len([v for v in p if v != -1]) == len({v for v in p if v != -1})
        ]
        assert list(_injective_maps(n_pred, n_gold)) == expected


GTT_G0 = ("bombing / attack", {"PerpOrg": [["FMLN"]], "Target": [["embassy"]]})
GTT_G1 = ("kidnapping", {"Victim": [["Pedro Ruiz", "mayor"]]})
GTT_GOLD = [[GTT_G0, GTT_G1, GTT_G0]]  # the repeated template is kept once
GTT_PRED = [
    [
        ("attack", {"Target": ["the embassy"], "PerpOrg": ["fmln", "army"]}),
        ("kidnapping", {"Victim": ["mayor", "Pedro Ruiz"]}),
        ("arson", {"Target": ["house"]}),
    ]
]


def test_gtt_by_hand() -> None:
    s = gtt_template_scores(GTT_GOLD, GTT_PRED)
    # Best mapping: P0 -> G0 ("attack" is in "bombing / attack"), P1 -> G1, P2 unmatched.
    # incident: 2 matched pairs; 3 predicted, 2 gold -> P 2/3, R 1, F 4/5.
    # PerpOrg: fmln yes, army no -> P 1/2; FMLN found -> R 1/1.
    # Target: embassy yes, spurious P2 "house" -> P 1/2, R 1/1.
    # Victim: both mentions of the one entity count for precision (not one-to-one): 2/2.
    inc = s.incident_type
    assert (inc.precision, inc.recall, inc.f1) == pytest.approx((f("2/3"), 1.0, 0.8))
    assert (s.per_role["PerpOrg"].precision, s.per_role["PerpOrg"].recall) == (0.5, 1.0)
    assert (s.per_role["Target"].precision, s.per_role["Target"].recall) == (0.5, 1.0)
    assert (s.per_role["Victim"].precision, s.per_role["Victim"].tp) == (1.0, 2)
    assert s.per_role["Weapon"].f1 == 0.0
    # micro (incident type included, as GTT): p 6/9, r 5/5 -> F 2*(2/3)/(5/3) = 4/5.
    assert (s.micro.precision, s.micro.recall, s.micro.f1) == pytest.approx((f("2/3"), 1.0, 0.8))


def test_gtt_incident_mismatch_leaves_both_unmatched() -> None:
    gold = [[("kidnapping", {"Victim": [["mayor"]]})]]
    pred = [[("bombing", {"Victim": ["mayor"]})]]
    s = gtt_template_scores(gold, pred)
    # Not a substring: the pair cannot match, so the right victim is still a miss.
    assert (s.incident_type.tp, s.incident_type.n_pred, s.incident_type.n_gold) == (0, 1, 1)
    victim = s.per_role["Victim"]
    assert (victim.tp, victim.n_pred, victim.n_gold) == (0, 1, 1)


def test_gtt_without_predictions_counts_gold_as_missed() -> None:
    s = gtt_template_scores([[GTT_G0]], [[]])
    assert (s.micro.tp, s.micro.n_pred, s.micro.n_gold) == (0, 0, 3)
    assert s.micro.f1 == 0.0


def test_gtt_rejects_an_unknown_predicted_incident_type() -> None:
    with pytest.raises(ValueError, match="incident type 'bombing / attack' is not one of"):
        gtt_template_scores([[GTT_G0]], [[("bombing / attack", {})]])


# --- incident_type_doc_f1 --------------------------------------------------------------


def test_incident_type_doc_f1_by_hand() -> None:
    gold = [{"bombing", "attack"}, {"kidnapping"}, set()]
    pred = [{"attack"}, {"arson"}, set()]
    # tp 1, pred 2, gold 3 -> P 1/2, R 1/3, F 2*(1/6)/(5/6) = 2/5.
    s = incident_type_doc_f1(gold, pred)
    assert (s.tp, s.n_pred, s.n_gold) == (1, 2, 3)
    assert s.f1 == pytest.approx(0.4)
    with pytest.raises(ValueError, match="unknown incident type"):
        incident_type_doc_f1([{"bombing / attack"}], [set()])
