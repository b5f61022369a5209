"""The promotion gate: a retrained candidate replaces production only if it is no worse on
any dataset, better on the users' new data, and its exported graphs passed parity."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from training.config import CORRECTIONS

Figures = Mapping[str, Mapping[str, float]]  # collection -> figure name -> value


@dataclass(frozen=True)
class GateRules:
    # How far (absolute, 0.01 = 1 point) a candidate may fall below production on one dataset.
    margin: float = 0.01
    # How much a candidate must gain on the new data's dev slice (strictly more than this).
    min_gain: float = 0.0


@dataclass(frozen=True)
class Row:
    collection: str
    production: float | None
    candidate: float
    verdict: str  # "ok", "worse" or "not better"

    @property
    def change(self) -> float | None:
        return None if self.production is None else self.candidate - self.production


@dataclass
class GateResult:
    accepted: bool
    rows: list[Row]
    reasons: list[str]  # why it was rejected (empty when accepted)
    rules: GateRules
    parity: dict[str, Any] = field(default_factory=dict)
    production: str | None = None  # version, or None when nothing was in production
    candidate: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted, "reasons": self.reasons, "rules": asdict(self.rules),
            "production": self.production, "candidate": self.candidate, "parity": self.parity,
            "rows": [asdict(r) for r in self.rows],
        }  # fmt: skip

    def markdown(self) -> str:
        verdict = "**promoted**" if self.accepted else "**rejected**"
        lines = [
            f"# Gate: candidate {self.candidate} {verdict}",
            "",
            f"Production: {self.production or 'none'}. Dev main figures (x100) on the same "
            f"records for both; a dataset may fall at most {100 * self.rules.margin:.1f} "
            f"points, and `{CORRECTIONS}` (the new data's dev slice) must gain more than "
            f"{100 * self.rules.min_gain:.1f}.",
            "",
            "| collection | production | candidate | change | verdict |",
            "|---|---|---|---|---|",
        ]
        for r in self.rows:
            old = "-" if r.production is None else f"{100 * r.production:.1f}"
            change = "-" if r.change is None else f"{100 * r.change:+.1f}"
            lines.append(
                f"| {r.collection} | {old} | {100 * r.candidate:.1f} | {change} | {r.verdict} |"
            )
        p = self.parity
        lines += [
            "",
            f"Parity: fp32 vs torch max |logit difference| {p.get('fp32_max_abs_diff', 0):.1e} "
            f"(tolerance {p.get('tolerance', 0):.0e}): "
            f"{'passed' if p.get('fp32_passed') else 'FAILED'}; int8 "
            f"{'accepted' if p.get('int8_accepted') else 'rejected (serving runs fp32)'}.",
            "",
        ]
        if self.reasons:
            lines += ["Why it was rejected:", "", *(f"- {r}" for r in self.reasons), ""]
        return "\n".join(lines)


def decide(
    production: Figures | None, candidate: Figures, parity: Mapping[str, Any],
    rules: GateRules, versions: tuple[str | None, str],
) -> GateResult:  # fmt: skip
    """Compare the main dev figures of both models, collection by collection."""
    rows, reasons = [], []
    for name in sorted(candidate, key=lambda n: (n == CORRECTIONS, n)):
        new = float(candidate[name]["main"])
        old = None if production is None or name not in production else production[name]["main"]
        verdict = "ok"
        if name == CORRECTIONS:
            if old is not None and not new > old + rules.min_gain:
                verdict = "not better"
                reasons.append(
                    f"not better on the new data's dev slice: {100 * new:.1f} against "
                    f"production's {100 * old:.1f} (needs more than +{100 * rules.min_gain:.1f})"
                )
        elif old is not None and new < old - rules.margin:
            verdict = "worse"
            reasons.append(
                f"worse on {name}: {100 * new:.1f} against production's {100 * old:.1f} "
                f"(allowed drop {100 * rules.margin:.1f})"
            )
        rows.append(Row(name, None if old is None else float(old), new, verdict))
    if CORRECTIONS not in candidate:
        reasons.append(
            "the new data has no dev slice to show an improvement on: add more corrected "
            "records (a fifth of them, by a hash of the text, go to dev)"
        )
    diff, tolerance = parity.get("fp32_max_abs_diff"), parity.get("tolerance")
    fp32_ok = diff is not None and tolerance is not None and float(diff) <= float(tolerance)
    if not fp32_ok:
        reasons.append("the fp32 graph failed its parity check against torch")
    kept = {k: parity.get(k) for k in ("fp32_max_abs_diff", "tolerance", "int8_accepted")}
    kept["fp32_passed"] = fp32_ok
    return GateResult(not reasons, rows, reasons, rules, kept, versions[0], versions[1])
