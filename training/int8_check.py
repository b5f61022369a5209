"""Whether the int8 graph may be served: judged by held-out accuracy, not agreement.

Dynamic int8 agrees with fp32 on only about 80% of decoded spans, most of them spans near
the decision threshold either way, while its F1 on the dev sets moves by a few tenths. So
the export scores both graphs on the model's own dev records with its tuned thresholds,
and int8 is served only if its main figure is within `max_diff` of fp32's on every dev
collection (either direction: drift is drift).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from serving.engine import Engine
from serving.onnx_backend import OnnxBackend
from training.corpus.record import Record


def dev_records(config: Mapping[str, Any]) -> dict[str, list[Record]]:
    """The dev records a model was selected on: its config's `data.dev`, read from its
    datasets folder and capped by `dev_max_records` exactly as training capped them.
    Raises OSError or ValueError when they cannot be read."""
    from training.config import Config
    from training.train import load_records

    parsed = Config.model_validate(dict(config))
    # Only dev: training collections would be converted (and checked) for nothing.
    dev_only = parsed.model_copy(update={"data": parsed.data.model_copy(update={"train": {}})})
    dev = load_records(dev_only)["dev"]
    return {name: dev[name] for name in parsed.data.dev}


def int8_verdict(figures: Mapping[str, Mapping[str, float]], max_diff: float) -> tuple[bool, str]:
    """Accept int8 only if its main dev figure is within `max_diff` of fp32's on every
    collection of `figures` ({collection: {"fp32": main, "int8": main}}); returns the
    decision and its reason in words."""
    points = f"{100 * max_diff:g} points"
    if not figures:
        return False, "there were no dev records to compare int8 with fp32 on"
    diffs = {name: f["int8"] - f["fp32"] for name, f in figures.items()}
    off = {name: d for name, d in diffs.items() if abs(d) > max_diff + 1e-9}  # float slack
    if off:
        listed = ", ".join(f"{name} {100 * d:+.2f}" for name, d in sorted(off.items()))
        return False, f"its main dev figure differs from fp32's by more than {points} on {listed}"
    worst = max(sorted(diffs), key=lambda name: abs(diffs[name]))
    return True, (
        f"its main dev figure is within {points} of fp32's on all {len(diffs)} dev "
        f"collections (largest difference {100 * diffs[worst]:+.2f} on {worst})"
    )


def int8_accuracy(
    engine_parts: tuple[Any, Any], fp32: Path, int8: Path, config: Mapping[str, Any],
    thresholds: dict[str, float], max_diff: float,
    dev: Mapping[str, Sequence[Record]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Both graphs scored on the dev records (`dev`, else the config's own) by the
    training evaluation, with the model's tuned thresholds; int8 runs as served (each
    window alone). No readable dev data: int8 is rejected, never guessed."""
    from training.evaluate import evaluate_all

    report: dict[str, Any] = {"max_diff": max_diff, "collections": {}}
    if dev is None:
        try:
            dev = dev_records(config)
        except (OSError, ValueError) as err:
            reason = (
                f"no dev data could be read to compare int8 with fp32 ({err}); make the "
                "model's datasets readable (CONFLICT_DATA_DIR) and export again"
            )
            return report | {"accepted": False, "reason": reason}
    by = {name: list(records) for name, records in dev.items() if records}
    tokenizer, settings = engine_parts
    scores = {
        precision: evaluate_all(Engine(tokenizer, OnnxBackend(graph), settings), by, thresholds)[0]
        for precision, graph in (("fp32", fp32), ("int8", int8))
    }  # fmt: skip
    figures = {
        name: {"fp32": scores["fp32"][name]["main"], "int8": scores["int8"][name]["main"]}
        for name in sorted(scores["fp32"])
    }  # fmt: skip
    accepted, reason = int8_verdict(figures, max_diff)
    return report | {"collections": figures, "accepted": accepted, "reason": reason}


def log_int8_accuracy(accuracy: Mapping[str, Any], log: Callable[[str], None]) -> None:
    """The per-collection figures and the decision, for the export log."""
    if accuracy["collections"]:
        log("int8 vs fp32, main dev figure (the model's thresholds):")
    for name, f in accuracy["collections"].items():
        log(f"  {name}: fp32 {100 * f['fp32']:.2f}, int8 {100 * f['int8']:.2f} "
            f"({100 * (f['int8'] - f['fp32']):+.2f})")  # fmt: skip
    if accuracy["accepted"]:
        log(f"int8 accepted: {accuracy['reason']}")
    else:
        log(
            f"warning: int8 rejected: {accuracy['reason']}; the int8 graph is kept for "
            "inspection and serving runs fp32"
        )
