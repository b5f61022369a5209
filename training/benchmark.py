"""`benchmark-accuracy`: the whole accuracy table, beside the published reference numbers.

Runs one trained model over every benchmark collection and writes Markdown with the
command, the model's hashes and the date. Reference numbers are ConfliBERT's (scr-uncased,
LR tuned on dev, mean of 3 seeds) on its published splits, GRIT's and GTT's on MUC-4.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.artifact import sha256_file, verify
from training.corpus.sources import data_dir as locate
from training.corpus.sources import project_root
from training.evaluate import RARE, scores_for
from training.model_card import best_epoch, trained_collections


@dataclass(frozen=True)
class Row:
    task: str
    collection: str
    split: str
    metric: str  # key in the collection's figures
    label: str  # what the metric is, for the table
    reference: str  # published number, or "" where there is none


ROWS = (
    Row("re3d NER (ConfliBERT split)", "re3d_conflibert", "test", "micro_f1",
        "entity micro-F1", "68.4"),
    Row("re3d NER, WEAPON", "re3d_conflibert", "test", "f1_WEAPON", "F1", ""),
    Row("re3d NER, MIL_PLATFORM", "re3d_conflibert", "test", "f1_MIL_PLATFORM", "F1", ""),
    Row("re3d NER (our document split)", "re3d", "test", "micro_f1", "entity micro-F1", ""),
    Row("re3d doc split, WEAPON", "re3d", "test", "f1_WEAPON", "F1", ""),
    Row("re3d doc split, MIL_PLATFORM", "re3d", "test", "f1_MIL_PLATFORM", "F1", ""),
    Row("CAMEO NER (actor roles)", "cameo_ner", "test", "micro_f1", "entity micro-F1", "74.0"),
    Row("CAMEO PentaClass", "cameo_class", "test", "macro_f1", "macro-F1", "89.5"),
    Row("  written sentences of other decades and styles", "written_penta", "test", "macro_f1",
        "macro-F1", ""),
    Row("SATP", "satp", "test", "example_f1", "example-based F1", "89.4"),
    Row("IndiaPoliceEvents sentences (ConfliBERT split)", "ipe_conflibert_sents", "test",
        "example_f1", "example-based F1", "66.1"),
    Row("IndiaPoliceEvents documents (ConfliBERT split)", "ipe_conflibert_docs", "test",
        "example_f1", "example-based F1", "70.8"),
    Row("IndiaPoliceEvents sentences (our document split)", "ipe", "test",
        "sentence_example_f1", "example-based F1", ""),
    Row("IndiaPoliceEvents documents (our document split)", "ipe", "test",
        "doc_example_f1", "example-based F1", ""),
    Row("InsightCrime", "insightcrime", "test", "example_f1", "example-based F1",
        "68.2 (ModernBERT-base 69.6)"),
    Row("MUC-4 role fillers", "muc4", "test", "role_filler_f1", "GRIT micro-F1", "54.5 (GRIT)"),
    Row("MUC-4 Weapon", "muc4", "test", "f1_Weapon", "GRIT F1", "59.1 (GRIT)"),
    Row("MUC-4 Victim", "muc4", "test", "f1_Victim", "GRIT F1", "67.8 (GRIT)"),
    Row("MUC-4 incident type", "muc4", "test", "incident_doc_f1",
        "doc-level micro-F1 (not GTT's template metric)", "67.4 (GTT, template-level)"),
    Row("Written news: entities, whole texts", "written", "test", "entity_micro_f1",
        "entity micro-F1", ""),
    Row("  WEAPON", "written", "test", "entity_f1_WEAPON", "F1", ""),
    Row("  MIL_PLATFORM", "written", "test", "entity_f1_MIL_PLATFORM", "F1", ""),
    Row("  VEHICLE", "written", "test", "entity_f1_VEHICLE", "F1", ""),
    Row("Written news: event roles", "written", "test", "role_micro_f1", "micro-F1", ""),
    Row("Written news: event types", "written", "test", "event_macro_f1",
        "macro-F1 over the types present", ""),
    Row("Written news: no conflict event, none predicted", "written", "test", "no_event_kept",
        "share of such texts", ""),
    Row("Rare event types (hand-annotated dev)", "rare_events", "dev", "rare_macro_f1",
        "macro-F1 over rare types", ""),
    *(Row(f"  {t}", "rare_events", "dev", f"f1_{t}", "F1", "") for t in RARE),
)  # fmt: skip


# Collections that share text: a model trained on one must not be scored on the other.
SHARES_TEXT: dict[str, set[str]] = {
    "re3d": {"re3d_conflibert"},
    "re3d_conflibert": {"re3d"},
    "ipe": {"ipe_conflibert_sents", "ipe_conflibert_docs"},
    "ipe_conflibert_sents": {"ipe", "ipe_conflibert_docs"},
    "ipe_conflibert_docs": {"ipe", "ipe_conflibert_sents"},
}


def leaking(trained_on: list[str]) -> set[str]:
    """Collections whose test text this model may have trained on."""
    return set().union(*(SHARES_TEXT.get(name, set()) for name in trained_on))


Scores = dict[str, dict[str, dict[str, float]]]  # split -> collection -> figures
CACHE = "benchmark_scores.json"


ARTIFACT_SCORES = project_root() / "runs" / "benchmark-scores"


@dataclass(frozen=True)
class Model:
    """What the table needs of one model: a training run's model folder (scored through
    torch) or an exported artifact (through its fp32 graph, as served; its scores are
    cached under runs/, since an artifact's folder is sealed)."""

    path: Path
    config: dict[str, Any]
    config_sha256: str
    weights_sha256: str
    thresholds: dict[str, float]
    data_fingerprint: str
    epoch: Any
    backend: str
    cache: Path
    trained_on: list[str]  # its config's collections and its merged specialists'


def describe(path: Path) -> Model:
    if (path / "manifest.json").is_file():
        artifact = verify(path)
        t = artifact.manifest["training"]
        return Model(
            path, t["config"], t.get("config_sha256", ""), sha256_file(artifact.graph("fp32")),
            artifact.thresholds, t.get("data_fingerprint", ""), t.get("epoch"), "fp32",
            ARTIFACT_SCORES / f"{artifact.version}.json", trained_collections(t),
        )  # fmt: skip
    meta = json.loads((path / "training.json").read_text(encoding="utf-8"))
    return Model(
        path, meta["config"], meta["config_sha256"], sha256_file(path / "weights.pt"),
        meta.get("thresholds", {}), meta.get("data_fingerprint", ""), meta.get("epoch"),
        "torch", path / CACHE, trained_collections(meta),
    )  # fmt: skip


def trained_on(model_dir: Path) -> list[str]:
    return describe(model_dir).trained_on


def code_fingerprint() -> str:
    """sha256 of every source file of serving/ and training/: decoding, evaluation,
    metrics and conversion all change scores."""
    h = hashlib.sha256()
    root = project_root()
    for package in ("serving", "training"):
        for path in sorted((root / package).rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def data_fingerprint(data_dir: Path) -> str:
    """sha256 of the datasets' checksum list (else their names and sizes) and of the
    annotated files kept in this repository."""
    h = hashlib.sha256()
    sums = data_dir / "SHA256SUMS"
    if sums.is_file():
        h.update(sums.read_bytes())
    else:
        for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
            h.update(f"{path.relative_to(data_dir)} {path.stat().st_size}\n".encode())
    for folder in ("written", "written_penta", "rare_events"):
        for path in sorted((project_root() / "data" / folder).glob("*.jsonl")):
            h.update(path.read_bytes())
    return h.hexdigest()


def run_benchmark(model_dir: Path, data_dir: Path | None = None, fresh: bool = False) -> Scores:
    """{split: {collection: figures}} for the table's collections this model trained on
    (its own test sets, never ones that share its training text). Cached in the model
    folder, keyed by everything that changes a score (weights, thresholds, code, data),
    since evaluation takes minutes."""
    model = describe(model_dir)
    key = {"weights_sha256": model.weights_sha256, "thresholds": model.thresholds,
           "code": code_fingerprint(), "data": data_fingerprint(locate(data_dir))}  # fmt: skip
    cache = model.cache
    if not fresh and cache.is_file():
        saved = json.loads(cache.read_text(encoding="utf-8"))
        if saved["key"] == key:
            scores: Scores = saved["scores"]
            return scores
    trained = model.trained_on
    own, skip = set(trained), leaking(trained)
    by_split: dict[str, set[str]] = {}
    for row in ROWS:
        if row.collection in own and row.collection not in skip:
            by_split.setdefault(row.split, set()).add(row.collection)
    scores = {
        split: scores_for(model_dir, sorted(names), split, data_dir, model.backend)
        for split, names in by_split.items()
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"key": key, "scores": scores}, indent=1) + "\n", "utf-8")
    return scores


def cell(row: Row, models: list[tuple[list[str], Scores]]) -> str:
    """A column's figure for a row: mean ± sd over its models trained on the row's
    collection; else "leak" where one of them trained on text of that test set, else "-"."""
    values = [
        100 * scores[row.split][row.collection][row.metric]
        for names, scores in models
        if row.collection in names
        and row.metric in scores.get(row.split, {}).get(row.collection, {})
    ]  # fmt: skip
    if not values:
        return "leak" if any(row.collection in leaking(n) for n, _ in models) else "-"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    mean, sd = statistics.mean(values), statistics.stdev(values)
    return f"{mean:.1f} ± {sd:.1f}"


def render(
    columns: dict[str, list[tuple[Path, Scores]]], command: str, seconds: float, notes: str = ""
) -> str:
    """One column per named group of models (seeds, or one model per dataset), one row
    per benchmark figure, the reference beside them."""
    # A rerun reads every score from the models' caches: say so rather than "took 0 s".
    took = f"evaluation took {seconds:.0f} s" if seconds >= 1 else "scores read from cache"
    lines = ["# Accuracy", "", f"Made by `{command}` on {time.strftime('%Y-%m-%d', time.gmtime())}"
             f" ({took}). Figures are percentages; a ± figure is the"
             " mean and sample standard deviation over the column's seeds.", ""]  # fmt: skip
    for name, models in columns.items():
        for model_dir, _ in models:
            m = describe(model_dir)
            lines.append(
                f"- **{name}**: `{model_dir}`"
                + (" (exported graph, fp32)" if m.backend == "fp32" else "")
                + f", seed {m.config['training']['seed']}, config sha256 "
                f"`{m.config_sha256[:16]}`, weights sha256 `{m.weights_sha256[:16]}`, data "
                f"fingerprint `{m.data_fingerprint[:16]}`, best dev epoch {best_epoch(m.epoch)}"
            )
    lines += ["", notes, ""] if notes else [""]
    names = list(columns)
    lines += [
        "| task | split | metric | " + " | ".join(names) + " | reference |",
        "|---|---|---|" + "---|" * len(names) + "---|",
    ]
    trained = {n: [(trained_on(d), s) for d, s in models] for n, models in columns.items()}
    for row in ROWS:
        cells = [cell(row, trained[name]) for name in names]
        lines.append(
            f"| {row.task} | {row.split} | {row.label} | "
            + " | ".join(cells)
            + f" | {row.reference} |"
        )
    return "\n".join(lines) + "\n"
