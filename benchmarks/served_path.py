"""The served path scored end to end, beside the figures the accuracy table reports.

`benchmarks/accuracy.md` scores the model's heads with the datasets' own sentence
boundaries. Users get something else: `Tagger` on the raw text, the service's heuristic
sentence splitter, thresholds and served precision, and event records whose slots say who
did what to whom. This benchmark scores that output with the same metric code
(`training.evaluate.evaluate_records`) on each collection's test split:

- **gold path**: the artifact's graph through `Engine` with gold sentence boundaries, as
  `conflict-tagger benchmark-accuracy` does;
- **served**: the labels of `Tagger.tag(texts)` results, as a client reads them;
- **served, event records** (MUC-4 and written news): only what the event records carry:
  MUC-4 role fillers from the records' perpetrator, victim, target and instrument slots,
  and event types as the union of the records' types.

    python -m benchmarks.served_path --model shipped [--out benchmarks/served_path.md]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.whole_documents import pct
from serving.decode import Decoded, ScoredSpan
from serving.heads import HEAD_BY_NAME
from serving.result import Layer, Result
from serving.tagger import Tagger
from training.corpus.record import Record
from training.evaluate import evaluate_records, predict

# Collection -> the figures reported for it (the first is its accuracy-table figure).
FIGURES: dict[str, tuple[str, ...]] = {
    "re3d_conflibert": ("micro_f1",),
    "cameo_ner": ("micro_f1",),
    "cameo_class": ("macro_f1",),
    "satp": ("example_f1",),
    "insightcrime": ("example_f1",),
    "ipe_conflibert_sents": ("example_f1",),
    "muc4": ("role_filler_f1", "f1_Weapon", "incident_doc_f1"),
    "written": ("entity_micro_f1", "role_micro_f1", "event_macro_f1", "no_event_kept"),
}
# Event-record slots -> the role label a slot's span is scored as.
SLOT_ROLE = {"victims": "VICTIM", "targets": "PHYS_TARGET", "instruments": "INSTRUMENT"}


def _one_hot(head: str, labels: Sequence[str]) -> np.ndarray:
    """Probabilities that make `chosen_labels` return exactly `labels` at any threshold."""
    names = HEAD_BY_NAME[head].labels
    return np.array([1.0 if name in labels else 0.0 for name in names], dtype=np.float32)


def served(result: Result) -> Decoded:
    """A result as the scorer reads decoded output: its spans and its chosen labels."""
    document = {head: _one_hot(head, labels) for head, labels in result.dataset_labels.items()}
    document["events"] = _one_hot("events", [e.label for e in result.event_types])
    document["coarse"] = _one_hot("coarse", result.coarse_types)
    return Decoded(
        entities=[ScoredSpan(e.start, e.end, e.label.value, e.score) for e in result.entities],
        roles=[ScoredSpan(r.start, r.end, r.label.value, r.score) for r in result.roles],
        document=document,
    )


def from_records(result: Result) -> Decoded:
    """Only what the event records carry: slot fillers as role spans, record types as
    the document's event types."""
    roles: dict[tuple[int, int], str] = {}
    for event in result.events:
        for slot in ("perpetrators", *SLOT_ROLE):
            for ref in getattr(event, slot):
                span = (result.roles if ref.layer is Layer.ROLES else result.entities)[ref.index]
                label = span.label.value if slot == "perpetrators" else SLOT_ROLE[slot]
                roles.setdefault((span.start, span.end), label)
    base = served(result)
    base.document["events"] = _one_hot("events", [e.event_type for e in result.events])
    base.document["coarse"] = _one_hot("coarse", [e.coarse_type for e in result.events])
    # A weapon entity inside an instrument role span fills the same slot: keep the longer.
    kept: list[ScoredSpan] = []
    for (a, b), label in sorted(roles.items(), key=lambda item: (item[0][0], -item[0][1])):
        if not kept or a >= kept[-1].end:
            kept.append(ScoredSpan(a, b, label, 1.0))
    base.roles = kept
    return base


@dataclass(frozen=True)
class Row:
    collection: str
    figure: str
    documents: int
    gold_path: float
    served: float
    records: float | None  # through the event records, where they carry the figure


def score(tagger: Tagger, name: str, records: Sequence[Record]) -> list[Row]:
    thresholds = tagger.thresholds
    gold = evaluate_records(name, records, predict(tagger.engine, records), thresholds)
    results = tagger.tag([r.text for r in records])
    plain = evaluate_records(name, records, [served(r) for r in results], thresholds)
    via: dict[str, float] = {}
    if name in ("muc4", "written"):
        via = evaluate_records(name, records, [from_records(r) for r in results], thresholds)
    carried = {"role_filler_f1", "f1_Weapon", "role_micro_f1", "event_macro_f1", "no_event_kept"}
    return [
        Row(name, f, len(records), gold[f], plain[f], via[f] if f in carried and via else None)
        for f in FIGURES[name]
    ]


def test_split(name: str, data_dir: Path | None) -> list[Record]:
    from training.corpus.build import convert_all
    from training.corpus.sources import data_dir as locate

    corpus = convert_all(locate(data_dir), only=[name])
    return [r for r in corpus.records if r.collection == name and r.split.value == "test"]


def render(rows: Sequence[Row], model: str, command: str) -> str:
    lines = [
        "# The served path, end to end",
        "",
        f"Made by `{command}` with `{model}`. Test splits; figures in percent, computed by "
        "`training.evaluate.evaluate_records` (the accuracy table's metric code) from: the "
        "gold path (the graph with the datasets' sentence boundaries), the served results "
        "(`Tagger` on raw text: heuristic sentences, thresholds, served precision), and the "
        "event records alone (MUC-4 role fillers from their slots; event types as the "
        "union of the records' types). See the module's docstring for what each means.",
        "",
        "| collection | figure | n | gold path | served | served, event records |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.collection} | {r.figure} | {r.documents} | {pct(r.gold_path)} "
            f"| {pct(r.served)} | {pct(r.records)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    import sys

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--model", default="shipped", help="artifact folder, tag or production")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/served_path.md"))
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--only", nargs="*", default=list(FIGURES), help="collections")
    args = parser.parse_args(argv)
    tagger = Tagger.from_artifact(args.model)
    rows = [
        row for name in args.only for row in score(tagger, name, test_split(name, args.data_dir))
    ]
    command = "python -m benchmarks.served_path " + " ".join(sys.argv[1:] if argv is None else argv)
    text = render(rows, f"{tagger.info.name} {tagger.info.version}", command.strip())
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
