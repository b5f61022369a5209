"""Is a candidate really worse than the release on dev, or is that the dev sets' noise?

Each model reads every dev record of the collections once; then the records are drawn
again with replacement (the same draw for every model), and each collection's main figure
and their mean are computed anew per draw. The spread of candidate-minus-base over the
draws is the paired bootstrap's estimate of how much the difference would move on other
records of the same kind (Efron and Tibshirani 1993; Koehn 2004 for system comparison).
It says nothing about selection: a base chosen on these very records keeps its luck.

    python -m benchmarks.paired_dev --base models/conflict-tagger-VERSION \
        --candidate runs/NAME/model [--candidate ...] [--replicates 200]

A model is a trained folder (read through torch) or an artifact (its fp32 graph); the
collections are the ones the base was selected on (its config's `data.dev`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# model -> draw (record indices per collection) -> main figure per collection
Scorer = Callable[[str, Mapping[str, np.ndarray]], dict[str, float]]


@dataclass(frozen=True)
class Difference:
    candidate: str
    observed: float  # mean over collections, candidate minus base, on the records as they are
    sd: float  # over the draws
    low: float  # 5th and 95th percentiles over the draws
    high: float
    per_collection_sd: dict[str, float]


def paired_bootstrap(
    sizes: Mapping[str, int], score: Scorer, base: str, candidates: Sequence[str],
    replicates: int = 200, seed: int = 0,
) -> list[Difference]:  # fmt: skip
    """Candidate-minus-base differences of the mean figure, each draw shared by all models."""
    rng = np.random.default_rng(seed)
    whole = {c: np.arange(n) for c, n in sizes.items()}
    observed = {m: score(m, whole) for m in (base, *candidates)}
    means: dict[str, list[float]] = {m: [] for m in candidates}
    per: dict[str, dict[str, list[float]]] = {m: {c: [] for c in sizes} for m in candidates}
    for _ in range(replicates):
        draw = {c: rng.integers(0, n, n) for c, n in sizes.items()}
        ref = score(base, draw)
        for m in candidates:
            got = score(m, draw)
            for c in sizes:
                per[m][c].append(got[c] - ref[c])
            means[m].append(float(np.mean([got[c] - ref[c] for c in sizes])))
    out = []
    for m in candidates:
        d = np.array(means[m])
        gap = float(np.mean([observed[m][c] - observed[base][c] for c in sizes]))
        sd = float(d.std(ddof=1)) if len(d) > 1 else 0.0
        low, high = (float(x) for x in np.percentile(d, [5, 95]))
        spread = {c: float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for c, v in per[m].items()}
        out.append(Difference(m, gap, sd, low, high, spread))
    return out


def dev_scorer(models: Sequence[Path], data_dir: Path | None) -> tuple[dict[str, int], Scorer]:
    """Every model's predictions on every dev record of the collections the first model
    was selected on (its config's `data.dev`), once, and a scorer over draws of them
    (`training.evaluate.evaluate_records` with each model's own thresholds)."""
    from training.benchmark import describe
    from training.corpus.build import convert_all
    from training.corpus.sources import data_dir as locate
    from training.evaluate import evaluate_records, load_engine, predict

    collections = list(describe(models[0]).config["data"]["dev"])
    corpus = convert_all(locate(data_dir), only=collections).by_collection()
    dev = {c: [r for r in corpus[c] if r.split.value == "dev"] for c in collections}
    read = {}
    for path in models:
        engine, thresholds = load_engine(path, describe(path).backend)
        read[str(path)] = (thresholds, {c: predict(engine, dev[c]) for c in collections})
        print(f"read {path}", flush=True)

    def score(model: str, draw: Mapping[str, np.ndarray]) -> dict[str, float]:
        thresholds, decoded = read[model]
        return {
            c: 100 * evaluate_records(
                c, [dev[c][i] for i in draw[c]], [decoded[c][i] for i in draw[c]], thresholds
            )["main"]
            for c in collections
        }  # fmt: skip

    return {c: len(v) for c, v in dev.items()}, score


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--base", type=Path, required=True, help="model or artifact folder")
    parser.add_argument("--candidate", type=Path, action="append", required=True)
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    sizes, score = dev_scorer([args.base, *args.candidate], args.data_dir)
    print("dev records:", ", ".join(f"{c} {n}" for c, n in sizes.items()))
    whole = {c: np.arange(n) for c, n in sizes.items()}
    for m in (args.base, *args.candidate):
        figures = score(str(m), whole)
        listed = ", ".join(f"{c} {v:.2f}" for c, v in figures.items())
        print(f"{m}: mean {np.mean(list(figures.values())):.2f} ({listed})")
    found = paired_bootstrap(
        sizes, score, str(args.base), [str(c) for c in args.candidate], args.replicates
    )  # fmt: skip
    for d in found:
        print(
            f"{d.candidate} minus base: {d.observed:+.2f}, sd {d.sd:.2f} over "
            f"{args.replicates} draws, 90% of draws in [{d.low:+.2f}, {d.high:+.2f}]; sd per "
            "collection: " + ", ".join(f"{c} {v:.2f}" for c, v in d.per_collection_sd.items())
        )  # fmt: skip


if __name__ == "__main__":
    main()
