"""`benchmark-export`: does the exported artifact score what the torch model scores?

Runs every dev set the model trained on through torch, the fp32 graph and the int8 graph,
and writes the parity figures and the dev table into a marked section of
benchmarks/accuracy.md (the rest of the file is left as it is).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from training.evaluate import scores_for

START, END = "<!-- export:start -->", "<!-- export:end -->"
BACKENDS = ("torch", "fp32", "int8")
MAX_DIFF = 0.5  # points of F1 the int8 graph may differ from torch by, on any dev set


def dev_collections(manifest: dict[str, Any]) -> list[str]:
    """The collections the model trained on that have a dev split with a metric."""
    no_dev = {"weak_events", "plover", "ipe_conflibert_docs"}
    return sorted(n for n in manifest["training"]["config"]["data"]["train"] if n not in no_dev)


def compare(
    model_dir: Path, artifact_dir: Path, data_dir: Path | None = None
) -> tuple[dict[str, Any], dict[str, dict[str, dict[str, float]]], dict[str, float]]:
    """(manifest, {backend: {collection: figures}}, {backend: seconds})."""
    manifest = json.loads((artifact_dir / "manifest.json").read_text(encoding="utf-8"))
    names = dev_collections(manifest)
    scores, seconds = {}, {}
    for backend in BACKENDS:
        path = model_dir if backend == "torch" else artifact_dir
        tick = time.perf_counter()
        scores[backend] = scores_for(path, names, "dev", data_dir, backend)
        seconds[backend] = time.perf_counter() - tick
    return manifest, scores, seconds


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())


def render(
    manifest: dict[str, Any], scores: dict[str, dict[str, dict[str, float]]],
    seconds: dict[str, float], command: str,
) -> str:  # fmt: skip
    p, q = manifest["parity"], manifest["quantization"]
    lines = [
        START,
        "## Exported artifact: parity and int8 against torch",
        "",
        f"Made by `{command}` on {time.strftime('%Y-%m-%d', time.gmtime())}: artifact "
        f"`{manifest['version']}` of the model trained with config sha256 "
        f"`{manifest['training']['config_sha256'][:16]}`.",
        "",
        f"- Fused nodes in `model.onnx`: {_counts(manifest['fusions'])}.",
        f"- `model.int8.onnx`: dynamic int8, per-channel {q['per_channel']}, reduce-range "
        f"{q['reduce_range']}; {_counts(q['nodes'])}; "
        f"{len(q['kept_fp32'])} head MatMuls kept in fp32.",
        f"- Parity at export ({p['texts']} fixed texts, {p['tokens']} tokens): fp32 ONNX vs torch "
        f"max |logit difference| {p['fp32_max_abs_diff']:.1e} (tolerance {p['tolerance']:.0e}); "
        f"int8 vs fp32 agree on {100 * p['int8_span_agreement']:.2f}% of {p['spans']} spans and "
        f"{100 * p['int8_label_agreement']:.2f}% of {p['labels']} labels (information only); "
        f"int8 judged by dev accuracy: "
        + (p.get("int8_accuracy", {}).get("reason", "no verdict recorded") + "; int8 ")
        + ("accepted." if q.get("accepted") else "**rejected**; serving runs fp32."),
        "- Dev time per backend (whole dev sets, one process, both cores): "
        + ", ".join(f"{b} {s:.0f} s" for b, s in seconds.items())
        + ".",
        "",
        "| dev set | main figure | torch | fp32 ONNX | int8 ONNX | int8 - torch | within "
        f"±{MAX_DIFF} |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in sorted(scores["torch"]):
        t, f, i = (100 * scores[b][name]["main"] for b in BACKENDS)
        ok = "yes" if abs(i - t) <= MAX_DIFF else "**no**"
        lines.append(
            f"| {name} | {MAIN_LABEL.get(name, 'main')} | {t:.2f} | {f:.2f} | {i:.2f} | "
            f"{i - t:+.2f} | {ok} |"
        )
    lines += ["", END]
    return "\n".join(lines) + "\n"


MAIN_LABEL = {
    "re3d": "entity micro-F1", "re3d_conflibert": "entity micro-F1",
    "cameo_ner": "entity micro-F1", "cameo_class": "macro-F1", "satp": "example-based F1",
    "insightcrime": "example-based F1", "ipe_conflibert_sents": "example-based F1",
    "ipe": "mean of doc and sentence example-based F1", "muc4": "GRIT role-filler micro-F1",
    "rare_events": "macro-F1 over rare types",
}  # fmt: skip


def put_section(document: str, section: str) -> str:
    """Replace the marked section, or append it when the document has none."""
    if START in document and END in document:
        head, rest = document.split(START, 1)
        tail = rest.split(END, 1)[1]
        return head + section.rstrip("\n") + tail
    return document.rstrip("\n") + "\n\n" + section


def section_of(document: str) -> str | None:
    """The marked section of a document, markers included, if it has one."""
    if START not in document or END not in document:
        return None
    return START + document.split(START, 1)[1].split(END, 1)[0] + END + "\n"
