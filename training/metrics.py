"""Evaluation metrics, defined exactly as the published numbers we compare against.

Each function replays one upstream evaluation script on plain Python data, including
its quirks (ConfliBERT's example-based averages, GRIT's one-to-one entity matching,
GTT's template alignment), because a metric that differs in a detail is not comparable
with the published number. Every docstring names the upstream file and function; where
we deliberately differ (we refuse length mismatches that ConfliBERT silently dropped),
it says so. Ratios are fractions in [0, 1]; an undefined ratio is 0, as upstream.
"""

from __future__ import annotations

import re
import string
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from seqeval.metrics.sequence_labeling import get_entities

from serving.schema import Muc4Incident, Muc4Role
from training.corpus.record import Template

# MUC-4 inputs. Gold: role -> entities -> coreferent mention strings. Prediction: role ->
# mention strings, each one predicted entity (what a tagger produces).
RoleEntities = Mapping[str, Sequence[Sequence[str]]]
RoleMentions = Mapping[str, Sequence[str]]
GoldTemplate = tuple[str, RoleEntities]  # (incident type as upstream spells it, fillers)
PredTemplate = tuple[str, RoleMentions]  # (one incident type, fillers)

ROLES: tuple[str, ...] = tuple(r.value for r in Muc4Role)  # GRIT/GTT's scoring order
_INCIDENTS: tuple[str, ...] = tuple(i.value for i in Muc4Incident)
INCIDENT = "incident_type"


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    f1: float
    tp: int
    n_pred: int
    n_gold: int  # support


def _score(tp: int, n_pred: int, n_gold: int) -> Score:
    """P/R/F1 from counts, 0 where undefined: seqeval (zero_division=0), GRIT's and GTT's
    `f1` all reduce to this, with the same float operations, so values match bit for bit."""
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return Score(p, r, f, tp, n_pred, n_gold)


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(np.asarray(values, dtype=np.float64))) if values else 0.0


def _check_aligned(gold: Sequence[object], pred: Sequence[object], unit: str) -> None:
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold {unit}s but {len(pred)} predicted; align them first")


# --- NER-style tasks -------------------------------------------------------------------


@dataclass(frozen=True)
class EntityScores:
    micro: Score
    macro_precision: float
    macro_recall: float
    macro_f1: float
    per_type: Mapping[str, Score]  # sorted by type name, as seqeval orders them


_TAG_PREFIXES = ("B-", "I-", "E-", "S-")


def entity_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> EntityScores:
    """seqeval's default (conlleval-compatible, lenient) entity-level scores.

    Definition: seqeval 1.2.2 `metrics.sequence_labeling.precision_recall_fscore_support`
    and `classification_report` (mode=None), as ConfliBERT calls them in
    `finetune_data.py` (`f1_score(y_true, y_pred, average='micro')` and `'macro'`).
    Entities come from seqeval's own `get_entities` (an I- after O or after another type
    starts an entity); an entity is correct if type, start and end match. Micro pools the
    counts; macro is the unweighted mean over the types in gold or prediction, a type
    absent from one side scoring 0 (seqeval's zero_division, without its warning).

    Unlike ConfliBERT, which silently dropped sentences whose predicted length differed,
    a length mismatch is an error: predict on the gold tokens.
    """
    _check_aligned(gold, pred, "sentence")
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if len(g) != len(p):
            raise ValueError(
                f"sentence {i}: {len(g)} gold tags but {len(p)} predicted; predict on the "
                "gold tokens (ConfliBERT's script dropped such sentences, we do not)"
            )
        bad = [t for t in (*g, *p) if t != "O" and not t.startswith(_TAG_PREFIXES)]
        if bad:
            raise ValueError(f"sentence {i}: {bad[0]!r} is not O or a B-/I-/E-/S- tag")
    # seqeval joins sentences with an "O" between them, so no entity crosses a boundary.
    true_entities = get_entities([list(s) for s in gold])
    pred_entities = get_entities([list(s) for s in pred])
    by_type: dict[str, tuple[set[tuple[int, int]], set[tuple[int, int]]]] = {}
    for entities, side in ((true_entities, 0), (pred_entities, 1)):
        for kind, start, end in entities:
            by_type.setdefault(kind, (set(), set()))[side].add((start, end))
    per_type = {
        kind: _score(len(g_set & p_set), len(p_set), len(g_set))
        for kind, (g_set, p_set) in sorted(by_type.items())
    }
    scores = list(per_type.values())
    micro = _score(
        sum(s.tp for s in scores), sum(s.n_pred for s in scores), sum(s.n_gold for s in scores)
    )
    return EntityScores(
        micro=micro,
        macro_precision=_mean([s.precision for s in scores]),
        macro_recall=_mean([s.recall for s in scores]),
        macro_f1=_mean([s.f1 for s in scores]),
        per_type=per_type,
    )


# --- Multi-label tasks (SATP, IndiaPoliceEvents, InsightCrime) --------------------------


@dataclass(frozen=True)
class MultiLabelScores:
    example_precision: float
    example_recall: float
    example_f1: float
    example_accuracy: float  # Jaccard |g & p| / |g | p|, ConfliBERT's "acc"
    n_instances: int
    n_skipped: int  # empty gold and empty prediction: left out of example_f1/accuracy
    micro: Score
    macro_precision: float
    macro_recall: float
    macro_f1: float
    per_label: Mapping[str, Score]  # in the order of `labels`


def multilabel_scores(
    gold: Sequence[Collection[str]], pred: Sequence[Collection[str]], labels: Sequence[str]
) -> MultiLabelScores:
    """ConfliBERT's example-based scores plus sklearn-style label-based micro/macro.

    Example-based: eventdata/ConfliBERT `example_based.py`, per instance with g = gold,
    p = prediction, each a mean over only the instances its denominator allows:
    precision = mean |g&p|/|p| over p non-empty (`example_based_precision`); recall =
    mean |g&p|/|g| over g non-empty (`example_based_recall`); F1 = mean 2|g&p|/(|g|+|p|)
    over instances where g or p is non-empty (`example_based_f1`: an instance with both
    empty is skipped, not counted as 1); accuracy = mean |g&p|/|g|p| likewise
    (`example_based_accuracy`). Each is 0 when no instance qualifies. The F1 is a mean of
    per-instance F1s, not the harmonic mean of the mean P and R.

    Label-based: `finetune_data.py::train_multilabel` calls sklearn `f1_score` with
    average='micro'/'macro' on 0/1 indicator rows over all `labels` columns: micro pools
    TP/FP/FN; macro is the unweighted mean over every label in `labels`, a label never
    in gold nor prediction scoring 0 (sklearn's default zero_division), so `labels` must
    be the task's full column list (e.g. `list(SatpLabel)`).
    """
    _check_aligned(gold, pred, "instance")
    index = {label: j for j, label in enumerate(labels)}
    g_mat = np.zeros((len(gold), len(labels)), dtype=bool)
    p_mat = np.zeros_like(g_mat)
    for mat, rows, side in ((g_mat, gold, "gold"), (p_mat, pred, "predicted")):
        for i, row in enumerate(rows):
            unknown = [x for x in row if x not in index]
            if unknown:
                raise ValueError(f"{side} instance {i}: labels {unknown} not in {list(labels)}")
            mat[i, [index[x] for x in row]] = True
    both = np.logical_and(g_mat, p_mat).sum(axis=1)
    either = np.logical_or(g_mat, p_mat).sum(axis=1)
    n_g, n_p = g_mat.sum(axis=1), p_mat.sum(axis=1)

    def example_mean(num: np.ndarray, den: np.ndarray) -> float:
        keep = den > 0  # ConfliBERT's filter: the instances whose denominator is not 0
        return float(np.mean(num[keep] / den[keep])) if keep.any() else 0.0

    tp = np.logical_and(g_mat, p_mat).sum(axis=0)
    fp = np.logical_and(~g_mat, p_mat).sum(axis=0)
    fn = np.logical_and(g_mat, ~p_mat).sum(axis=0)
    per_label = {
        label: _score(int(tp[j]), int(tp[j] + fp[j]), int(tp[j] + fn[j]))
        for j, label in enumerate(labels)
    }
    scores = list(per_label.values())
    micro = _score(int(tp.sum()), int((tp + fp).sum()), int((tp + fn).sum()))
    return MultiLabelScores(
        example_precision=example_mean(both, n_p),
        example_recall=example_mean(both, n_g),
        example_f1=example_mean(2 * both, n_g + n_p),
        example_accuracy=example_mean(both, either),
        n_instances=len(gold),
        n_skipped=int((either == 0).sum()),
        micro=micro,
        macro_precision=_mean([s.precision for s in scores]),
        macro_recall=_mean([s.recall for s in scores]),
        macro_f1=_mean([s.f1 for s in scores]),
        per_label=per_label,
    )


# --- Multi-class (CAMEO PentaClass) -----------------------------------------------------


@dataclass(frozen=True)
class MultiClassScores:
    accuracy: float  # also the micro F1 of a single-label task
    macro_precision: float
    macro_recall: float
    macro_f1: float
    per_class: Mapping[str, Score]  # sorted, as sklearn's unique_labels orders them


def multiclass_scores(gold: Sequence[str], pred: Sequence[str]) -> MultiClassScores:
    """Single-label classification scores as ConfliBERT reports CAMEO PentaClass.

    eventdata/ConfliBERT `finetune_data.py::train_multiclass` (config `cameo_class.json`,
    task "multiclass") calls sklearn `f1_score(truth, predictions, average='macro')`
    without `labels`, so the classes averaged over are those in gold or prediction
    (sklearn `unique_labels`), not all five: a class neither annotated nor predicted
    is left out; one on only one side scores F1 0.
    """
    _check_aligned(gold, pred, "instance")
    classes = sorted(set(gold) | set(pred))
    per_class = {
        c: _score(
            sum(g == c and p == c for g, p in zip(gold, pred, strict=True)),
            sum(p == c for p in pred),
            sum(g == c for g in gold),
        )
        for c in classes
    }
    scores = list(per_class.values())
    correct = sum(g == p for g, p in zip(gold, pred, strict=True))
    return MultiClassScores(
        accuracy=correct / len(gold) if gold else 0.0,
        macro_precision=_mean([s.precision for s in scores]),
        macro_recall=_mean([s.recall for s in scores]),
        macro_f1=_mean([s.f1 for s in scores]),
        per_class=per_class,
    )


# --- MUC-4 role fillers (GRIT) and templates (GTT) --------------------------------------


def normalize_mention(s: str) -> str:
    """GRIT/GTT `eval.py::normalize_string` (SQuAD's): lower-case, drop punctuation, then
    the articles a/an/the, then collapse whitespace."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", s).split())


_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def _roles_of(doc: Mapping[str, object], where: str) -> None:
    unknown = set(doc) - set(ROLES)
    if unknown:
        raise ValueError(f"{where}: unknown role(s) {sorted(unknown)}; expected {list(ROLES)}")


def _max_matching(gold: Sequence[frozenset[str]], pred: Sequence[str]) -> int:
    """Size of a maximum one-to-one matching of predicted mentions to gold entities that
    contain them. GRIT maximises the summed 0/1 similarity with scipy's
    linear_sum_assignment; on a 0/1 matrix that optimum is exactly this size."""
    owner: dict[int, int] = {}  # gold entity -> predicted mention matched to it

    def augment(j: int, seen: set[int]) -> bool:
        for i, entity in enumerate(gold):
            if pred[j] in entity and i not in seen:
                seen.add(i)
                if i not in owner or augment(owner[i], seen):
                    owner[i] = j
                    return True
        return False

    return sum(augment(j, set()) for j in range(len(pred)))


@dataclass(frozen=True)
class RoleFillerScores:
    micro: Score  # pooled over the five roles
    per_role: Mapping[str, Score]  # in Muc4Role order


def grit_role_filler_scores(
    gold: Sequence[RoleEntities], pred: Sequence[RoleMentions]
) -> RoleFillerScores:
    """Document-level role-filler entity P/R/F1 as GRIT scores it (CEAF-REE, phi_strict).

    xinyadu/grit_doc_event_entity `eval.py::eval_ceaf` (the printed "strict" result):
    mentions of both sides go through `normalize_mention`; per document and role, a
    predicted mention matches a gold entity if it equals any of the entity's coreferent
    mentions (`phi_strict`), and predicted mentions and gold entities are paired one to
    one to maximise the matches (`ceaf`, via linear_sum_assignment). So two predictions
    of one gold entity count once; the other is a false positive. Precision = matches /
    predicted mentions, recall = matches / gold entities, summed over documents per
    role, and micro = the sums over the five roles.

    `gold` per document is the union over its templates (`grit_doc_gold`). Predictions
    are scored as given: GRIT's decoder (`run_pl_s_t.py`) already drops a mention equal
    to, or a substring of, one it kept for that role; `training.evaluate` does the same
    before calling.
    """
    _check_aligned(gold, pred, "document")
    counts = {role: [0, 0, 0] for role in ROLES}  # tp, n_pred, n_gold
    for d, (g_doc, p_doc) in enumerate(zip(gold, pred, strict=True)):
        _roles_of(g_doc, f"gold document {d}")
        _roles_of(p_doc, f"predicted document {d}")
        for role in ROLES:
            # GRIT's loader drops entities without mentions.
            entities = [frozenset(map(normalize_mention, e)) for e in g_doc.get(role, ()) if e]
            mentions = [normalize_mention(m) for m in p_doc.get(role, ())]
            c = counts[role]
            c[0] += _max_matching(entities, mentions)
            c[1] += len(mentions)
            c[2] += len(entities)
    per_role = {role: _score(*c) for role, c in counts.items()}
    micro = _score(*(sum(c[k] for c in counts.values()) for k in range(3)))
    return RoleFillerScores(micro=micro, per_role=per_role)


def grit_doc_gold(templates: Sequence[GoldTemplate]) -> dict[str, list[list[str]]]:
    """A document's gold role fillers as GRIT builds them from its templates.

    xinyadu/grit_doc_event_entity `data/muc/scripts/preprocess.py::read_files`: templates
    in upstream order, mentions lower-cased; an entity is added to its role unless it is
    a subset or superset of one already there (so it never extends the kept one).
    GRIT's `generate_examples` also drops mentions absent from the text; our converter
    keeps only mentions found at their offsets, so nothing is left to drop here.
    """
    merged: dict[str, list[list[str]]] = {role: [] for role in ROLES}
    for n, (_, fillers) in enumerate(templates):
        _roles_of(fillers, f"template {n}")
        for role in ROLES:
            for entity in fillers.get(role, ()):
                candidate = [m.lower() for m in entity]
                kept = merged[role]
                if not any(_subset(candidate, e) or _subset(e, candidate) for e in kept):
                    kept.append(candidate)
    return merged


def _subset(a: Sequence[str], b: Sequence[str]) -> bool:
    return all(m in b for m in a)


def gold_templates(templates: Sequence[Template]) -> list[GoldTemplate]:
    """Record templates as (incident type, {role: entities of mention strings})."""
    out: list[GoldTemplate] = []
    for t in templates:
        fillers: dict[str, list[list[str]]] = {role: [] for role in ROLES}
        for filler in t.fillers:
            fillers[filler.role.value].append([m.text for m in filler.mentions])
        out.append((t.incident_type, fillers))
    return out


@dataclass(frozen=True)
class TemplateScores:
    """GTT counts precision and recall hits separately (two predictions of one gold entity
    are two precision hits, one recall hit), so here `tp` is the precision-side count."""

    incident_type: Score
    per_role: Mapping[str, Score]  # in Muc4Role order
    micro: Score  # GTT's micro_avg: incident type and the five roles pooled


def gtt_template_scores(
    gold: Sequence[Sequence[GoldTemplate]], pred: Sequence[Sequence[PredTemplate]]
) -> TemplateScores:
    """Template-level scores as GTT computes them; `incident_type` is its incident row.

    xinyadu/gtt `eval.py::eval_tf` and `score`. Per document, identical gold templates
    are kept once and mentions normalised (`normalize_mention`; the incident type is
    not). Every one-to-one assignment of predicted templates to gold templates or to
    nothing is tried, in `itertools.product` order, and the first with the highest
    document micro F1 (incident type and roles pooled) is kept. A pair counts as matched
    only if the predicted incident type is a substring of the gold one ("attack" matches
    "bombing / attack"); then the incident type is one TP, each predicted mention is
    correct if it is a mention of any gold entity of that role in the paired template,
    and each gold entity is found if any predicted mention is one of its mentions (not
    one to one, unlike GRIT). Unmatched predicted templates add their incident type and
    mentions to the predicted counts only, unmatched gold templates theirs to the gold
    counts only. The search is exponential in the number of predicted templates, as
    upstream.
    """
    _check_aligned(gold, pred, "document")
    totals = {key: [0, 0, 0, 0] for key in (INCIDENT, *ROLES)}  # p_num, p_den, r_num, r_den
    for d, (g_doc, p_doc) in enumerate(zip(gold, pred, strict=True)):
        golds = _dedupe([_gold_template(t, f"gold document {d}") for t in g_doc])
        preds = [_pred_template(t, f"predicted document {d}") for t in p_doc]
        best: dict[str, list[int]] | None = None
        best_f1 = 0.0
        for mapping in _injective_maps(len(preds), len(golds)):
            counts = _score_mapping(mapping, preds, golds)
            f1 = _pooled(counts).f1
            if best is None or f1 > best_f1:
                best, best_f1 = counts, f1
        assert best is not None  # at least the all-unmatched mapping exists
        for key, c in best.items():
            totals[key] = [a + b for a, b in zip(totals[key], c, strict=True)]
    return TemplateScores(
        incident_type=_gtt_score(totals[INCIDENT]),
        per_role={role: _gtt_score(totals[role]) for role in ROLES},
        micro=_pooled(totals),
    )


# (incident type, per role: gold entities as mention tuples, or predicted mentions)
_GoldT = tuple[str, tuple[tuple[tuple[str, ...], ...], ...]]
_PredT = tuple[str, tuple[tuple[str, ...], ...]]


def _gold_template(t: GoldTemplate, where: str) -> _GoldT:
    incident, fillers = t
    _roles_of(fillers, where)
    # GTT's loader drops entities without mentions; entities are compared before
    # normalisation when deduplicating templates, so normalise after (see _dedupe).
    roles = tuple(tuple(tuple(e) for e in fillers.get(r, ()) if e) for r in ROLES)
    return incident, roles


def _pred_template(t: PredTemplate, where: str) -> _PredT:
    incident, fillers = t
    if incident not in _INCIDENTS:
        # GTT tests `pred in gold` on strings, so "" or a typo would match or miss silently.
        raise ValueError(f"{where}: incident type {incident!r} is not one of {_INCIDENTS}")
    _roles_of(fillers, where)
    return incident, tuple(tuple(map(normalize_mention, fillers.get(r, ()))) for r in ROLES)


def _dedupe(templates: list[_GoldT]) -> list[_GoldT]:
    """GTT keeps a gold template once if it repeats exactly (`if template not in
    templates`, on the raw strings); mentions are normalised afterwards."""
    seen: list[_GoldT] = []
    for t in templates:
        if t not in seen:
            seen.append(t)
    return [
        (inc, tuple(tuple(tuple(map(normalize_mention, e)) for e in role) for role in roles))
        for inc, roles in seen
    ]


def _injective_maps(n_pred: int, n_gold: int) -> Iterator[tuple[int, ...]]:
    """The valid GTT mappings (pred i -> gold index or -1), in the order GTT visits them:
    `itertools.product([0..n_gold-1, -1], repeat=n_pred)` minus non-injective ones."""
    values = [*range(n_gold), -1]

    def extend(prefix: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
        if len(prefix) == n_pred:
            yield prefix
            return
        for v in values:
            if v == -1 or v not in prefix:
                yield from extend((*prefix, v))

    return extend(())


def _score_mapping(
    mapping: tuple[int, ...], preds: list[_PredT], golds: list[_GoldT]
) -> dict[str, list[int]]:
    """GTT `eval.py::score` for one mapping: [p_num, p_den, r_num, r_den] per key."""
    counts = {key: [0, 0, 0, 0] for key in (INCIDENT, *ROLES)}
    matched_pred: set[int] = set()
    matched_gold: set[int] = set()
    for i, j in enumerate(mapping):
        if j == -1 or preds[i][0] not in golds[j][0]:
            continue
        matched_pred.add(i)
        matched_gold.add(j)
        for r, role in enumerate(ROLES):
            p_mentions, g_entities = preds[i][1][r], golds[j][1][r]
            c = counts[role]
            c[0] += sum(any(m in e for e in g_entities) for m in p_mentions)
            c[1] += len(p_mentions)
            c[2] += sum(any(m in e for m in p_mentions) for e in g_entities)
            c[3] += len(g_entities)
    # The incident type: one TP per matched pair; every template counts on its side.
    counts[INCIDENT] = [len(matched_pred), len(preds), len(matched_gold), len(golds)]
    for i in set(range(len(preds))) - matched_pred:
        for r, role in enumerate(ROLES):
            counts[role][1] += len(preds[i][1][r])
    for j in set(range(len(golds))) - matched_gold:
        for r, role in enumerate(ROLES):
            counts[role][3] += len(golds[j][1][r])
    return counts


def _gtt_score(c: Sequence[int]) -> Score:
    """GTT's counts are [p_num, p_den, r_num, r_den]; p_num == r_num except for roles,
    where precision and recall count different things, so keep both in the Score."""
    p_num, p_den, r_num, r_den = c
    p = p_num / p_den if p_den else 0.0
    r = r_num / r_den if r_den else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return Score(p, r, f, p_num, p_den, r_den)


def _pooled(counts: Mapping[str, Sequence[int]]) -> Score:
    return _gtt_score([sum(c[k] for c in counts.values()) for k in range(4)])


def incident_type_doc_f1(gold: Sequence[Collection[str]], pred: Sequence[Collection[str]]) -> Score:
    """Micro P/R/F1 over the set of incident types of each document.

    NOT GTT's incident-type number (`gtt_template_scores`), which needs predicted
    templates: this is for a tagger without template decoding. Gold per document: the
    union of its templates' `incidents` ("bombing / attack" gives both); values must be
    `Muc4Incident` values.
    """
    _check_aligned(gold, pred, "document")
    allowed = set(_INCIDENTS)
    tp = n_pred = n_gold = 0
    for d, (g, p) in enumerate(zip(gold, pred, strict=True)):
        g_set, p_set = set(g), set(p)
        unknown = (g_set | p_set) - allowed
        if unknown:
            raise ValueError(f"document {d}: unknown incident type(s) {sorted(unknown)}")
        tp += len(g_set & p_set)
        n_pred += len(p_set)
        n_gold += len(g_set)
    return _score(tp, n_pred, n_gold)
