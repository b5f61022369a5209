"""The artifact's README.md: what the model tags, how well, on what data, under which
licences, and where it is weak. Written from the manifest, so it cannot drift from it."""

from __future__ import annotations

from typing import Any

from serving.schema import ACTOR_ROLES, EVENT_ROLES, CoarseType, EntityType, EventType


def _figures(dev: dict[str, dict[str, float]]) -> list[str]:
    rows = ["| collection | main dev figure |", "|---|---|"]
    rows += [f"| {name} | {100 * f['main']:.1f} |" for name, f in sorted(dev.items())]
    return rows


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
    parity, quant = manifest["parity"], manifest["quantization"]
    collections = ", ".join(train["config"]["data"]["train"])
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
        f"data fingerprint `{train['data_fingerprint'][:16]}`, best dev epoch {train['epoch']})",
        f"- Windows of {manifest['windows']['size']} tokens every "
        f"{manifest['windows']['stride']}: long documents are read whole, never cut",
        f"- Label thresholds tuned on dev: {manifest['thresholds'] or 'none (0.5)'}",
        f"- Graphs: `model.onnx` (fp32, fused: {manifest['fusions']}) and `model.int8.onnx` "
        f"(dynamic int8, per-channel {quant['per_channel']}, reduce-range "
        f"{quant['reduce_range']}; heads kept in fp32). "
        + (
            "Serving runs int8."
            if quant["accepted"]
            else "**The int8 graph failed the "
            "agreement check below and is not served: serving runs fp32.**"
        ),
        f"- Parity on {parity['texts']} fixed texts ({parity['tokens']} tokens): fp32 ONNX vs "
        f"torch max |logit difference| {parity['fp32_max_abs_diff']:.1e} (tolerance "
        f"{parity['tolerance']:.0e}); int8 vs fp32 agree on "
        f"{100 * parity['int8_span_agreement']:.1f}% of {parity['spans']} spans and "
        f"{100 * parity['int8_label_agreement']:.1f}% of {parity['labels']} labels",
        "",
        "## Dev figures at export",
        "The main figure per collection (entity micro-F1, example-based F1, macro-F1 or",
        "MUC-4 role-filler F1; `benchmarks/accuracy.md` has test figures beside published ones).",
        "",
        *_figures(manifest["metrics"]["dev"]),
        "",
        *_lineage(manifest.get("lineage")),
        "## Licences of the training data",
        "The model inherits the terms of the data it learnt from. Several of these are",
        "research-only or non-commercial: check them before any other use.",
        "",
        *(f"- {note}" for note in manifest["licences"]),
        "",
        "## Limits",
        "- English news only. MUC-4 and most IndiaPoliceEvents text is lower-case, and the",
        "  encoder is uncased: capitalisation is not used.",
        "- Rare event types (AIRSTRIKE, SHELLING_MISSILE, PROTEST, RIOT, CHEMICAL_ATTACK,",
        "  SEXUAL_VIOLENCE, TERRITORY_CHANGE, WEAPONS_SEIZURE) are learnt from lexical weak",
        "  labels and a few hundred hand-written sentences; their dev F1 is low or zero.",
        "- WEAPON and MIL_PLATFORM entities are rare in the data and poorly recalled.",
        "- Scores are model probabilities, not calibrated confidences.",
        "",
        f"Exported {manifest['created']} by conflict-tagger {manifest['code_version']}.",
        "",
    ]
    return "\n".join(lines)
