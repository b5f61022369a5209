"""The artifact's README.md: what the model tags, how well, on what data, under which
licences, and where it is weak. Written from the manifest, so it cannot drift from it."""

from __future__ import annotations

from typing import Any

from serving.schema import ACTOR_ROLES, EVENT_ROLES, CoarseType, EntityType, EventType


def best_epoch(epoch: int | None) -> str:
    """The best dev epoch as a card or table names it; a merged model has none."""
    return "none (a merge)" if epoch is None else str(epoch)


def trained_collections(meta: dict[str, Any]) -> list[str]:
    """The collections a model's weights learnt from: its config's, then those the
    specialists merged into it trained on (a training.json or a manifest's "training")."""
    names = list(meta["config"]["data"]["train"])
    for merge in merges(meta.get("merged")):
        for specialist in merge["specialists"]:
            names += [n for n in specialist.get("trained_on", []) if n not in names]
    return names


def merges(merged: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A merged model's merges, last first: a merge whose base was itself merged keeps the
    base's record under "base_merged"."""
    out = []
    while merged:
        out.append(merged)
        merged = merged.get("base_merged")
    return out


def _figures(dev: dict[str, dict[str, float]]) -> list[str]:
    rows = ["| collection | main dev figure |", "|---|---|"]
    rows += [f"| {name} | {100 * f['main']:.1f} |" for name, f in sorted(dev.items())]
    return rows


def _graphs(manifest: dict[str, Any]) -> list[str]:
    parity, quant = manifest["parity"], manifest["quantization"]
    storage = manifest.get("weights_storage", {"weights": "fp32"})
    lines = [
        f"- `model.onnx`: fp32 compute, fused ({manifest['fusions']})"
        + (
            f"; weights stored as fp16 (upcast to fp32 when loaded), decoding agrees with "
            f"the full-precision graph on {100 * storage['span_agreement']:.1f}% of spans "
            f"and {100 * storage['label_agreement']:.1f}% of labels of the parity texts"
            if storage["weights"] == "fp16"
            else ""
        ),
        f"- Parity on {parity['texts']} fixed texts ({parity['tokens']} tokens): fp32 ONNX vs "
        f"torch max |logit difference| {parity['fp32_max_abs_diff']:.1e} (tolerance "
        f"{parity['tolerance']:.0e})",
    ]
    if "int8" not in manifest["graphs"]:
        verdict = parity.get("int8_accuracy", {}).get("reason")
        if verdict:  # exported, judged, and left out of the release
            return [*lines, f"- No int8 graph shipped: int8 was rejected at export ({verdict}); "
                    "serving runs fp32."]  # fmt: skip
        return [*lines, "- No int8 graph: serving runs fp32."]
    verdict = (
        "Serving runs int8." if quant["accepted"] else "**It is not served: serving runs fp32.**"
    )
    return [
        *lines,
        f"- `model.int8.onnx`: dynamic int8, per-channel {quant['per_channel']}, reduce-range "
        f"{quant['reduce_range']}, heads kept in fp32; agrees with fp32 on "
        f"{100 * parity['int8_span_agreement']:.1f}% of {parity['spans']} spans and "
        f"{100 * parity['int8_label_agreement']:.1f}% of {parity['labels']} labels; judged by "
        f"dev accuracy: {parity.get('int8_accuracy', {}).get('reason', 'no verdict recorded')}. "
        f"{verdict}",
    ]


def _release(manifest: dict[str, Any]) -> list[str]:
    """Intended use, test figures, rebuild command and changelog of a shipped release."""
    rel = manifest.get("release")
    if not rel:
        return []
    lines = [
        "## Intended use",
        "Tagging English news about political conflict for research, monitoring and",
        "early-warning analysis: who did what to whom, with what, where and when. A human",
        "should check any single output that matters: it is a small model, and the figures",
        "below are what to expect on text like its training data; on other sources expect less.",
        "Not for decisions about individuals, and not for use beyond the licences below.",
        "",
        "## Accuracy on the published test splits",
        "Scored with the weights this graph was exported from, through the same decoding",
        "(`conflict-tagger benchmark-accuracy`; percentages; references are published numbers",
        "of larger models, see `benchmarks/accuracy.md`).",
        "",
        "| task | split | metric | this model | reference |",
        "|---|---|---|---|---|",
        *(
            f"| {r['task']} | {r['split']} | {r['metric']} | {r['value']} | {r['reference']} |"
            for r in rel["test"]
        ),
        "",
    ]
    curve = manifest["training"].get("curve") or []
    if curve:
        lines += [
            "## Training curve",
            "Mean dev score (the mean of each dev collection's main figure) after each epoch,",
            "per run (a later run starts from the earlier one's best weights):",
            "",
            "| run | epoch | dev score |",
            "|---|---|---|",
            *(
                f"| {c.get('run', '-')} | {c['epoch']} | {100 * c['dev_score']:.1f} |"
                for c in curve
            ),
            "",
        ]
    merged = manifest["training"].get("merged")
    if merged and merged.get("average_segment"):
        lines += [
            f"The release is `{merged['base']}` averaged with "
            + ", ".join(f"`{s['model']}`" for s in merged["specialists"])
            + f" (training/merge.py: every weight, the segment head's too, at scale "
            f"{merged['scale']}), thresholds tuned again on every dev record.",
            "",
        ]
    elif merged:
        for merge in reversed(merges(merged)):
            lines += [
                f"`{merge['base']}` then had specialists folded in (training/merge.py, "
                f"weight changes at scale {merge['scale']}):",
                "",
                *(
                    f"- `{s['model']}`: {', '.join(s['heads']) or 'no segment head of its own'}"
                    for s in merge["specialists"]
                ),
                "",
            ]
    lines += [
        "## Rebuild",
        f"`{rel['rebuild']}` (train the stages `configs/release*.yaml` in turn, each from the",
        "last one's weights; export, score, release);",
        "resumable: rerun it after an interruption.",
        "",
        "## Changelog",
        *(f"- {c['version']} ({c['date']}): {c['change']}" for c in rel["changelog"]),
        "",
    ]
    return lines


def _lineage(lineage: dict[str, Any] | None) -> list[str]:
    if not lineage:
        return []
    parent = lineage.get("parent") or {}
    added = lineage.get("data_added") or {}
    return [
        "## Lineage",
        f"- Retrained from: {parent.get('version') or 'nothing (no production model)'}",
        f"- Corrections: {added.get('train', 0)} train and {added.get('dev', 0)} dev records "
        f"in all, {added.get('added', 0)} new and {added.get('replaced', 0)} replaced in "
        f"this round, from {', '.join(f['path'] for f in added.get('files', [])) or '-'}",
        "",
    ]


def model_card(manifest: dict[str, Any]) -> str:
    enc, train = manifest["base_encoder"], manifest["training"]
    collections = ", ".join(trained_collections(train))
    lines = [
        f"# conflict-tagger model {manifest['version']}",
        "",
        "Tags political-conflict news in one encoder pass: entities, event roles, actor roles,",
        "and sentence- and document-level event types. Load it with",
        "`serving.artifact.verify(path)`; serve it with the conflict-tagger service.",
        "",
        "## What it tags",
        f"- Entities: {', '.join(e.value for e in EntityType)}",
        f"- Event roles: {', '.join(r.value for r in EVENT_ROLES)}",
        f"- Actor roles (CAMEO): {', '.join(r.value for r in ACTOR_ROLES)}",
        f"- Event types: {', '.join(e.value for e in EventType)}",
        f"- Coarse types: {', '.join(c.value for c in CoarseType)}",
        "- Dataset label sets: CAMEO PentaClass, SATP, IndiaPoliceEvents, InsightCrime, "
        "MUC-4 incident types",
        "",
        "## Model",
        f"- Base encoder: `{enc['name']}` ({enc['model_type']}, {enc['layers']} layers, "
        f"hidden size {enc['hidden_size']}), one linear head per output",
        f"- Trained on: {collections} (config sha256 `{train['config_sha256'][:16]}`, "
        f"data fingerprint `{train['data_fingerprint'][:16]}`, "
        f"best dev epoch {best_epoch(train['epoch'])})",
        f"- Windows of {manifest['windows']['size']} tokens every "
        f"{manifest['windows']['stride']}: long documents are read whole, never cut",
        f"- Label thresholds tuned on dev: {manifest['thresholds'] or 'none (0.5)'}",
        *_graphs(manifest),
        "",
        "## Dev figures at export",
        "The main figure per collection (entity micro-F1, example-based F1, macro-F1 or",
        "MUC-4 role-filler F1; `benchmarks/accuracy.md` has test figures beside published ones).",
        "",
        *_figures(manifest["metrics"]["dev"]),
        "",
        *_lineage(manifest.get("lineage")),
        *_release(manifest),
        "## Licences of the training data",
        "The model inherits the terms of the data it learnt from. Several of these are",
        "research-only or non-commercial: check them before any other use.",
        "",
        *(f"- {note}" for note in manifest["licences"]),
        "",
        "## Limits",
        "- English news only. MUC-4 and most IndiaPoliceEvents text is lower-case, and the",
        "  encoder is uncased: capitalisation is not used, so names are found from context.",
        "- Entities (PER, ORG, LOC, ...) are learnt from a few thousand annotated sentences",
        "  (re3d) and a few hundred written texts: expect missed and split names, and",
        "  ORG/LOC confusions for countries acting as actors.",
        "- Rare event types (AIRSTRIKE, SHELLING_MISSILE, PROTEST, RIOT, CHEMICAL_ATTACK,",
        "  SEXUAL_VIOLENCE, TERRITORY_CHANGE, WEAPONS_SEIZURE) are learnt from lexical weak",
        "  labels and some hundreds of hand-written texts.",
        "- WEAPON, MIL_PLATFORM and VEHICLE entities are rare in the data and poorly recalled.",
        "- Event roles (perpetrator, victim, target, instrument) come mostly from MUC-4's",
        "  1980s Latin American reports: recall on other conflicts is low.",
        "- Scores are model probabilities, not calibrated confidences.",
        "",
        f"Exported {manifest['created']} by conflict-tagger {manifest['code_version']}.",
        "",
    ]
    return "\n".join(lines)
