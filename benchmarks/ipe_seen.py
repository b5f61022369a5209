"""IndiaPoliceEvents test sentences seen in training against the rest.

ConfliBERT's IPE sentence split is sentence-random: 453 of its 3,275 test sentences are
also training sentences. Scoring the two parts apart tells memorising from generalising,
which the single test figure mixes.

    python -m benchmarks.ipe_seen MODEL [MODEL ...]

A MODEL is a training run's model folder (scored through torch) or an exported artifact
(through its fp32 graph, as served).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from training.corpus.build import convert_all
from training.corpus.sources import data_dir
from training.evaluate import evaluate_all, load_engine

COLLECTION = "ipe_conflibert_sents"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path, help="model folders or artifacts")
    args = parser.parse_args()
    records = convert_all(data_dir(None), only=[COLLECTION]).by_collection()[COLLECTION]
    train = {r.text.strip() for r in records if r.split.value == "train"}
    test = [r for r in records if r.split.value == "test"]
    parts = {
        "seen": [r for r in test if r.text.strip() in train],
        "unseen": [r for r in test if r.text.strip() not in train],
    }
    print(f"{len(test)} test sentences: " + ", ".join(f"{k} {len(v)}" for k, v in parts.items()))
    for path in args.models:
        backend = "fp32" if (path / "manifest.json").is_file() else "torch"
        engine, thresholds = load_engine(path, backend)
        for name, part in parts.items():
            figures, _ = evaluate_all(engine, {COLLECTION: part}, thresholds)
            print(f"{path}  {name}: example F1 {100 * figures[COLLECTION]['example_f1']:.1f}")


if __name__ == "__main__":
    main()
