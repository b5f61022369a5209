"""Evaluate a model on a collection with the metric its published numbers use.

Predictions come from the one inference path (`serving.engine.Engine`); each collection
has one "main" figure (what model selection averages) beside the full breakdown.
A sigmoid head predicts the labels above its threshold: tuned on dev during training
(`tune_thresholds`), shipped in the model folder, and used as is on test.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from serving.decode import Decoded, ScoredSpan, chosen_labels, event_labels
from serving.engine import Engine
from serving.heads import HEAD_BY_NAME
from serving.spans import LabelledSpan, spans_to_bio
from training import metrics
from training.corpus.record import LabelSet, Record, Split

# Texts made by joining CoNLL tokens with spaces: scored on those very tokens.
CONLL = {"re3d_conflibert", "cameo_ner"}
_WORD = re.compile(r"\w+|[^\w\s]")
MUC4_ROLE = {
    "PERP_IND": "PerpInd", "PERP_ORG": "PerpOrg", "PHYS_TARGET": "Target",
    "VICTIM": "Victim", "INSTRUMENT": "Weapon",
}  # fmt: skip
RARE = ("AIRSTRIKE", "SHELLING_MISSILE", "PROTEST", "RIOT", "CHEMICAL_ATTACK",
        "SEXUAL_VIOLENCE", "TERRITORY_CHANGE", "WEAPONS_SEIZURE", "ARMED_CLASH")  # fmt: skip


def _tokens(record: Record) -> list[tuple[int, int]]:
    if record.collection in CONLL:
        out, pos = [], 0
        for tok in record.text.split(" "):
            out.append((pos, pos + len(tok)))
            pos += len(tok) + 1
        return out
    return [m.span() for m in _WORD.finditer(record.text)]


def _tags(offsets: list[tuple[int, int]], spans: Sequence[LabelledSpan]) -> list[str]:
    # Predicted spans never overlap within a layer; gold ones are validated not to.
    return spans_to_bio(offsets, spans).tags


def span_scores(
    records: Sequence[Record], decoded: Sequence[Decoded], layer: str
) -> metrics.EntityScores:
    """seqeval over word tokens, restricted to the labels each record was annotated for;
    every gold entity of every record counts."""
    label_set = LabelSet.ENTITIES if layer == "entity" else LabelSet.ROLES
    gold_tags, pred_tags = [], []
    for r, d in zip(records, decoded, strict=True):
        cov = r.coverage(label_set)
        if cov is None:
            continue
        offsets = _tokens(r)
        gold = [
            LabelledSpan(s.start, s.end, v.value)
            for s in r.spans if (v := getattr(s, layer)) is not None and v.value in cov.labels
        ]  # fmt: skip
        found: list[ScoredSpan] = d.entities if layer == "entity" else d.roles
        pred = [LabelledSpan(s.start, s.end, s.label) for s in found if s.label in cov.labels]
        gold_tags.append(_tags(offsets, gold))
        pred_tags.append(_tags(offsets, pred))
    return metrics.entity_scores(gold_tags, pred_tags)


def _entity_figures(s: metrics.EntityScores) -> dict[str, float]:
    out = {"micro_f1": s.micro.f1, "micro_precision": s.micro.precision,
           "micro_recall": s.micro.recall, "macro_f1": s.macro_f1}  # fmt: skip
    out |= {f"f1_{k}": v.f1 for k, v in s.per_type.items()}
    out["main"] = s.micro.f1
    return out


def _multilabel_figures(s: metrics.MultiLabelScores) -> dict[str, float]:
    out = {
        "example_f1": s.example_f1,
        "example_precision": s.example_precision,
        "example_recall": s.example_recall,
        "micro_f1": s.micro.f1,
        "macro_f1": s.macro_f1,
    }
    out |= {f"f1_{k}": v.f1 for k, v in s.per_label.items()}
    out["main"] = s.example_f1
    return out


def evaluate_records(
    name: str, records: Sequence[Record], decoded: Sequence[Decoded],
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, float]:  # fmt: skip
    """Every figure for one collection; "main" is the one its reference number uses."""

    def _labels(probs: np.ndarray, head: str) -> list[str]:
        return chosen_labels(head, probs, thresholds)

    if name in ("re3d", "re3d_conflibert"):
        return _entity_figures(span_scores(records, decoded, "entity"))
    if name == "cameo_ner":
        return _entity_figures(span_scores(records, decoded, "role"))
    if name in ("cameo_class", "written_penta"):
        gold = [r.tasks.cameo_penta[0] for r in records]
        pred = [_labels(d.document["cameo_penta"], "cameo_penta")[0] for d in decoded]
        penta = metrics.multiclass_scores(gold, pred)
        return {"macro_f1": penta.macro_f1, "accuracy": penta.accuracy, "main": penta.macro_f1}
    if name in ("satp", "insightcrime", "ipe_conflibert_sents", "ipe_conflibert_docs"):
        head = "ipe" if name.startswith("ipe") else name
        gold_sets = [set(getattr(r.tasks, head)) for r in records]
        pred_sets = [set(_labels(d.document[head], head)) for d in decoded]
        labels = HEAD_BY_NAME[head].labels
        return _multilabel_figures(metrics.multilabel_scores(gold_sets, pred_sets, labels))
    if name == "ipe":
        labels = HEAD_BY_NAME["ipe"].labels
        docs = metrics.multilabel_scores(
            [set(r.tasks.ipe) for r in records],
            [set(_labels(d.document["ipe"], "ipe")) for d in decoded], labels,
        )  # fmt: skip
        gold_s = [set(s.tasks.ipe) for r in records for s in r.sentences]
        pred_s = [set(_labels(p["ipe"], "ipe")) for d in decoded for p in d.sentences]
        sents = metrics.multilabel_scores(gold_s, pred_s, labels)
        out = {f"doc_{k}": v for k, v in _multilabel_figures(docs).items() if k != "main"}
        out |= {f"sentence_{k}": v for k, v in _multilabel_figures(sents).items() if k != "main"}
        out["main"] = (docs.example_f1 + sents.example_f1) / 2
        return out
    if name == "muc4":
        return _muc4(records, decoded, thresholds)
    if name == "corrections":
        return _corrections(records, decoded, thresholds)
    if name == "written":
        return _written(records, decoded, thresholds)
    if name == "written_joined":
        return _per_report(records, decoded, thresholds)
    if name in ("rare_events", "plover"):
        gold_events = [{e.value for e in r.events} for r in records]
        pred_events = [set(event_labels(d.document, thresholds)) for d in decoded]
        m = metrics.multilabel_scores(gold_events, pred_events, HEAD_BY_NAME["events"].labels)
        rare = [m.per_label[k].f1 for k in RARE if m.per_label[k].n_gold]
        out = {"micro_f1": m.micro.f1, "example_f1": m.example_f1,
               "rare_macro_f1": float(np.mean(rare)) if rare else 0.0}  # fmt: skip
        out |= {f"f1_{k}": v.f1 for k, v in m.per_label.items() if v.n_gold or v.n_pred}
        out["main"] = out["rare_macro_f1"] if name == "rare_events" else m.micro.f1
        return out
    raise ValueError(f"no evaluation is defined for collection {name!r}")


def _per_report(
    records: Sequence[Record], decoded: Sequence[Decoded], thresholds: Mapping[str, float] | None
) -> dict[str, float]:
    """Event types report by report inside joined texts (`convert_written_joined`), as the
    event records read them: micro- and macro-F1 over the reports, and how often a report
    with no conflict event gets none. "main" is the micro-F1."""
    gold = [{e.value for e in s.events} for r in records for s in r.sentences]
    pred = [set(event_labels(p, thresholds)) for d in decoded for p in d.sentences]
    m = metrics.multilabel_scores(gold, pred, HEAD_BY_NAME["events"].labels)
    quiet = [not p for g, p in zip(gold, pred, strict=True) if not g]
    present = [v.f1 for v in m.per_label.values() if v.n_gold]
    return {
        "report_micro_f1": m.micro.f1,
        "report_macro_f1": float(np.mean(present)) if present else 0.0,
        "no_event_kept": float(np.mean(quiet)) if quiet else 0.0,
        "main": m.micro.f1,
    }


def _corrections(
    records: Sequence[Record], decoded: Sequence[Decoded], thresholds: Mapping[str, float] | None
) -> dict[str, float]:
    """Users' annotations: entity and role span F1 and event-type micro-F1, each over the
    records annotated for it; "main" is their mean."""
    out: dict[str, float] = {}
    for layer, label_set in (("entity", LabelSet.ENTITIES), ("role", LabelSet.ROLES)):
        pairs = [(r, d) for r, d in zip(records, decoded, strict=True) if r.coverage(label_set)]
        if pairs:
            s = span_scores([r for r, _ in pairs], [d for _, d in pairs], layer)
            out[f"{layer}_f1"] = s.micro.f1
    pairs = [(r, d) for r, d in zip(records, decoded, strict=True) if r.coverage(LabelSet.EVENTS)]
    if pairs:
        m = metrics.multilabel_scores(
            [{e.value for e in r.events} for r, _ in pairs],
            [set(event_labels(d.document, thresholds)) for _, d in pairs],
            HEAD_BY_NAME["events"].labels,
        )
        out["event_micro_f1"] = m.micro.f1
    out["main"] = float(np.mean(list(out.values()))) if out else 0.0
    return out


def _written(
    records: Sequence[Record], decoded: Sequence[Decoded], thresholds: Mapping[str, float] | None
) -> dict[str, float]:
    """The written news (data/written): entities and event roles read from whole texts,
    event types with macro-F1 over the types present, and how often news without any
    conflict event gets no event type. "main" is the mean of entity F1, role F1 and
    event macro-F1."""
    entities = span_scores(records, decoded, "entity")
    roles = span_scores(records, decoded, "role")
    gold = [{e.value for e in r.events} for r in records]
    pred = [set(event_labels(d.document, thresholds)) for d in decoded]
    events = metrics.multilabel_scores(gold, pred, HEAD_BY_NAME["events"].labels)
    present = [v.f1 for v in events.per_label.values() if v.n_gold]
    quiet = [not p for g, p in zip(gold, pred, strict=True) if not g]
    out = {f"entity_{k}": v for k, v in _entity_figures(entities).items() if k != "main"}
    out |= {"role_micro_f1": roles.micro.f1, "event_micro_f1": events.micro.f1,
            "event_macro_f1": float(np.mean(present)) if present else 0.0,
            "event_example_f1": events.example_f1,
            "no_event_kept": float(np.mean(quiet)) if quiet else 0.0}  # fmt: skip
    out |= {f"event_f1_{k}": v.f1 for k, v in events.per_label.items() if v.n_gold or v.n_pred}
    out["main"] = (entities.micro.f1 + roles.micro.f1 + out["event_macro_f1"]) / 3
    return out


def _muc4(
    records: Sequence[Record], decoded: Sequence[Decoded], thresholds: Mapping[str, float] | None
) -> dict[str, float]:
    gold = [metrics.grit_doc_gold(metrics.gold_templates(r.templates)) for r in records]
    pred = []
    for r, d in zip(records, decoded, strict=True):
        by_role: dict[str, list[str]] = {role: [] for role in MUC4_ROLE.values()}
        # In text order, a mention equal to or inside one already kept for its role is
        # dropped, as GRIT's decoder drops it (`not_sub_string` in its run_pl_s_t.py):
        # "betancur" after "roldan betancur" names the same filler.
        for s in sorted(d.roles, key=lambda s: (s.start, s.end)):
            if s.label in MUC4_ROLE:
                mention, kept = r.text[s.start : s.end], by_role[MUC4_ROLE[s.label]]
                if not any(mention in k for k in kept):
                    kept.append(mention)
        pred.append(by_role)
    roles = metrics.grit_role_filler_scores(gold, pred)
    incidents = metrics.incident_type_doc_f1(
        [set(r.tasks.muc4_incident) for r in records],
        [
            set(chosen_labels("muc4_incident", d.document["muc4_incident"], thresholds))
            for d in decoded
        ],
    )
    out = {"role_filler_f1": roles.micro.f1, "role_filler_precision": roles.micro.precision,
           "role_filler_recall": roles.micro.recall, "incident_doc_f1": incidents.f1}  # fmt: skip
    out |= {f"f1_{k}": v.f1 for k, v in roles.per_role.items()}
    out["main"] = roles.micro.f1
    return out


def predict(engine: Engine, records: Sequence[Record]) -> list[Decoded]:
    sentences = [[(s.start, s.end) for s in r.sentences] for r in records]
    return engine.run([r.text for r in records], sentences)


# Which sigmoid head each collection tunes, and on which of its figures.
TUNED = {
    "satp": ("satp", "main"), "insightcrime": ("insightcrime", "main"),
    "ipe": ("ipe", "main"), "ipe_conflibert_sents": ("ipe", "main"),
    "ipe_conflibert_docs": ("ipe", "main"), "muc4": ("muc4_incident", "incident_doc_f1"),
    "rare_events": ("events", "main"), "plover": ("events", "main"),
}  # fmt: skip
GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))


def event_type_f1(
    records: Sequence[Record], decoded: Sequence[Decoded], thresholds: Mapping[str, float]
) -> float | None:
    """Micro-F1 of the event-type head over the types each record's dataset labels (None:
    no record labels any): how the event threshold is tuned on collections whose own
    figure is another head's (SATP, InsightCrime, IndiaPoliceEvents, MUC-4)."""
    tp = fp = fn = 0
    for r, d in zip(records, decoded, strict=True):
        cov = r.coverage(LabelSet.EVENTS)
        if cov is None:
            continue
        gold = {e.value for e in r.events} & set(cov.labels)
        pred = set(event_labels(d.document, thresholds)) & set(cov.labels)
        tp, fp, fn = tp + len(gold & pred), fp + len(pred - gold), fn + len(gold - pred)
    if tp + fp + fn == 0:
        return None if not any(r.coverage(LabelSet.EVENTS) for r in records) else 0.0
    return 2 * tp / (2 * tp + fp + fn)


def tune_thresholds(
    predicted: Mapping[str, tuple[Sequence[Record], Sequence[Decoded]]],
) -> dict[str, float]:
    """Per sigmoid head, the threshold on GRID with the best mean dev figure over the
    collections that score it; ties go to the value nearest 0.5. The event-type head is
    also scored on every other dev collection that labels event types (its documents are
    whole articles, where the head is less sure than on the sentences it mostly learns
    from: a threshold tuned only on sentences would miss the events of articles)."""
    by_head: dict[str, list[tuple[str, str]]] = {}
    for name in predicted:
        if name in TUNED:
            head, key = TUNED[name]
            by_head.setdefault(head, []).append((name, key))
    also_events = [
        name for name, (records, _) in predicted.items()
        if TUNED.get(name, ("", ""))[0] != "events"
        and any(r.coverage(LabelSet.EVENTS) for r in records)
    ]  # fmt: skip

    def score(head: str, cut: float) -> tuple[float, float]:
        figures = [
            evaluate_records(name, *predicted[name], {head: cut})[key]
            for name, key in by_head.get(head, [])
        ]  # fmt: skip
        if head == "events":
            figures += [
                f for name in also_events
                if (f := event_type_f1(*predicted[name], {head: cut})) is not None
            ]  # fmt: skip
        return float(np.mean(figures)), -abs(cut - 0.5)

    heads = set(by_head) | ({"events"} if also_events else set())
    return {head: max(GRID, key=lambda cut: score(head, cut)) for head in sorted(heads)}


def evaluate_all(
    engine: Engine, by_collection: dict[str, list[Record]],
    thresholds: Mapping[str, float] | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:  # fmt: skip
    """Figures for every non-empty collection given, and the thresholds they used: the
    ones passed, or (None) thresholds tuned on these very records, as on dev in training."""
    predicted = {
        name: (records, predict(engine, records))
        for name, records in by_collection.items() if records and name != "weak_events"
    }  # fmt: skip
    chosen = dict(thresholds) if thresholds is not None else tune_thresholds(predicted)
    figures = {name: evaluate_records(name, *pair, chosen) for name, pair in predicted.items()}
    return figures, chosen


def load_engine(path: Path, backend: str = "torch") -> tuple[Engine, dict[str, float]]:
    """An engine and its thresholds: a trained model folder through torch, or an exported
    artifact through ONNX Runtime ("fp32" or "int8" graph)."""
    if backend == "torch":
        from training.backend import TorchBackend
        from training.checkpoint import load_model

        model, tokenizer, settings, meta = load_model(path)
        # Models saved before thresholds were tuned predict above 0.5.
        return Engine(tokenizer, TorchBackend(model), settings), meta.get("thresholds", {})
    if backend not in ("fp32", "int8"):
        raise ValueError(f"backend must be torch, fp32 or int8, not {backend!r}")
    from serving.artifact import verify
    from serving.onnx_backend import OnnxBackend

    artifact = verify(path)
    graph = OnnxBackend(artifact.graph("int8" if backend == "int8" else "fp32"))
    return Engine(artifact.tokenizer(), graph, artifact.settings()), artifact.thresholds


def scores_for(
    model_dir: Path, collections: Sequence[str], split: str, data_dir: Path | None = None,
    backend: str = "torch",
) -> dict[str, dict[str, float]]:  # fmt: skip
    """Score a trained model (or an artifact's graph) on `split` of each collection."""
    from training.corpus.build import convert_all
    from training.corpus.sources import data_dir as locate

    if split not in {s.value for s in Split}:
        raise ValueError(f"split must be train, dev or test, not {split!r}")
    engine, thresholds = load_engine(model_dir, backend)
    corpus = convert_all(locate(data_dir), only=collections)
    by = {
        name: [r for r in recs if r.split.value == split]
        for name, recs in corpus.by_collection().items() if name in collections
    }  # fmt: skip
    figures, _ = evaluate_all(engine, by, thresholds)
    return figures


def retune_thresholds(model_dir: Path, all_dev: bool = False) -> dict[str, float]:
    """Tune a trained model's thresholds again on the dev records of its own config (the
    ones training selected it on; `all_dev`: every dev record, uncapped) and store them in
    its training.json. Tuned on 100 records a collection, a head's threshold can swing
    (IndiaPoliceEvents: 0.4 for one stage, 0.1 for the next)."""
    from training.backend import TorchBackend
    from training.checkpoint import load_model, update_meta
    from training.config import Config
    from training.train import load_records

    model, tokenizer, settings, meta = load_model(model_dir)
    config = Config.model_validate(meta["config"])
    if all_dev:
        config.data.dev_max_records = None
    dev = load_records(config)["dev"]
    engine = Engine(tokenizer, TorchBackend(model), settings)
    figures, thresholds = evaluate_all(engine, {n: dev[n] for n in config.data.dev})
    update_meta(model_dir, {"thresholds": thresholds, "dev_with_thresholds": figures})
    return thresholds
