"""How much a trained model leans on word shapes (serving.shapes): its dev figures with the
shapes it was trained with, and with every shape set to NONE (what a model without the
casing signal sees). Not an ablation, which retrains without shapes
(`--model.word_shapes false`); this shows what the trained weights use.

    python -m benchmarks.casing runs/release2/model [--collections re3d_conflibert cameo_ner]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from serving.engine import Backend, Engine
from training.corpus.build import convert_all
from training.corpus.sources import data_dir
from training.evaluate import evaluate_records, load_engine, predict


class WithoutShapes:
    """A backend that hides the casing signal: every shape id is NONE."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def __call__(
        self, input_ids: np.ndarray, attention_mask: np.ndarray,
        shape_ids: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:  # fmt: skip
        return self.backend(input_ids, attention_mask, np.zeros_like(input_ids))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("model", help="a trained model folder (RUN/model)")
    parser.add_argument("--collections", nargs="*", default=["re3d_conflibert", "cameo_ner"])
    args = parser.parse_args(argv)
    engine, thresholds = load_engine(Path(args.model), "torch")
    blind = Engine(engine.tokenizer, WithoutShapes(engine.backend), engine.settings)
    corpus = convert_all(data_dir(), only=args.collections).records
    print("| collection | figure | with shapes | shapes hidden |")
    print("|---|---|---|---|")
    for name in args.collections:
        dev = [r for r in corpus if r.collection == name and r.split.value == "dev"]
        seen = evaluate_records(name, dev, predict(engine, dev), thresholds)
        hidden = evaluate_records(name, dev, predict(blind, dev), thresholds)
        for figure in ("main", "f1_WEAPON", "f1_MIL_PLATFORM", "f1_PER", "f1_ORG", "f1_LOC"):
            if figure in seen:
                print(f"| {name} | {figure} | {100 * seen[figure]:.1f} | "
                      f"{100 * hidden[figure]:.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
