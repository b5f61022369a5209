"""The promotion gate: a retrained candidate replaces production only if it is no worse on
any dataset, better on the users' new data, and its exported graphs passed parity.

"No worse" is measured against the better of production and the lineage's first model
(the model the chain of retrainings started from), both scored on the same records as the
candidate: against production alone, a drop within the margin every round would add up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from training.config import CORRECTIONS

Figures = Mapping[str, Mapping[str, float]]  # collection -> figure name -> value


@dataclass(frozen=True)
class GateRules:
    # How far (absolute, 0.01 = 1 point) a candidate may fall below the baseline on a dataset.
    margin: float = 0.01
    # How much a candidate must gain on the new data's dev slice (strictly more than this).
    min_gain: float = 0.0


@dataclass(frozen=True)
class FirstModel:
    """The lineage's first model; `figures` are on the gate's records, None when it is the
    production model itself (as in the first round)."""

    version: str
    tag: str | None = None
    figures: Figures | None = None


@dataclass(frozen=True)
class Row:
    collection: str
    production: float | None
    candidate: float
    verdict: str  # "ok", "worse" or "not better"
    first: float | None = None  # the lineage's first model, when it is not production

    @property
    def change(self) -> float | None:
        return None if self.production is None else self.candidate - self.production

    @property
    def baseline(self) -> float | None:
        """What the candidate is held to: the better of production and the first model."""
        known = [v for v in (self.production, self.first) if v is not None]
        return max(known) if known else None


@dataclass
class GateResult:
    accepted: bool
    rows: list[Row]
    reasons: list[str]  # why it was rejected (empty when accepted)
    rules: GateRules
    parity: dict[str, Any] = field(default_factory=dict)
    production: str | None = None  # version, or None when nothing was in production
    candidate: str = ""
    first: dict[str, Any] | None = None  # the lineage's first model: version, tag, scores
    slices: dict[str, Any] = field(default_factory=dict)  # the new data's dev slices: sizes, rule

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted, "reasons": self.reasons, "rules": asdict(self.rules),
            "production": self.production, "candidate": self.candidate, "first": self.first,
            "slices": self.slices, "parity": self.parity, "rows": [asdict(r) for r in self.rows],
        }  # fmt: skip

    def markdown(self) -> str:
        verdict = "**promoted**" if self.accepted else "**rejected**"
        with_first = any(r.first is not None for r in self.rows)
        held_to = "the better of production and the first model" if with_first else "production"
        lines = [
            f"# Gate: candidate {self.candidate} {verdict}",
            "",
            f"Production: {self.production or 'none'}.{self._first_line()} Dev main figures "
            f"(x100) on the same records for all; a dataset may fall at most "
            f"{100 * self.rules.margin:.1f} points below {held_to}, and `{CORRECTIONS}` (the "
            f"new data's dev slice) must gain more than {100 * self.rules.min_gain:.1f}.",
            "",
        ]
        if self.slices:
            s = self.slices
            lines += [
                f"The new data's dev records: {s['select']} chose the candidate's epoch and "
                f"thresholds; the {s['gate']} judged here took no part in that "
                f"({s['rule']}).",
                "",
            ]
        if with_first:
            lines += [
                "| collection | production | first model | candidate | change | verdict |",
                "|---|---|---|---|---|---|",
            ]
        else:
            lines += [
                "| collection | production | candidate | change | verdict |",
                "|---|---|---|---|---|",
            ]
        for r in self.rows:
            base = r.baseline if with_first else r.production
            cells = [r.collection, _points(r.production)]
            cells += [_points(r.first)] if with_first else []
            change = "-" if base is None else f"{100 * (r.candidate - base):+.1f}"
            cells += [f"{100 * r.candidate:.1f}", change, r.verdict]
            lines.append("| " + " | ".join(cells) + " |")
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

    def _first_line(self) -> str:
        if self.first is None:
            return ""
        if self.first["version"] == self.production:
            return " First model of the lineage: production itself."
        return (
            f" First model of the lineage (where these retrainings started): "
            f"{self.first['version']}, scored again on these records."
        )


def _points(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def decide(
    production: Figures | None, candidate: Figures, parity: Mapping[str, Any],
    rules: GateRules, versions: tuple[str | None, str], first: FirstModel | None = None,
    slices: Mapping[str, Any] | None = None,
) -> GateResult:  # fmt: skip
    """Compare the main dev figures of the candidate with the baseline's (the better of
    production and the lineage's first model), collection by collection."""
    other = None if first is None or first.version == versions[0] else first.figures
    if first is not None and first.version != versions[0] and other is None:
        raise ValueError(f"the lineage's first model {first.version} has no figures to compare")
    rows, reasons = [], []
    for name in sorted(candidate, key=lambda n: (n == CORRECTIONS, n)):
        new = float(candidate[name]["main"])
        old = None if production is None or name not in production else production[name]["main"]
        held = None if other is None or name not in other else other[name]["main"]
        row = Row(name, _float(old), new, "ok", _float(held))
        base = row.baseline
        by_first = row.first is not None and (row.production is None or row.first > row.production)
        against = (
            f"{_points(row.first)} of the lineage's first model {first.version} (production: "
            f"{_points(row.production)})" if by_first and first is not None
            else f"production's {_points(row.production)}"
        )  # fmt: skip
        if base is None:
            pass
        elif name == CORRECTIONS:
            if not new > base + rules.min_gain:
                row = Row(name, row.production, new, "not better", row.first)
                reasons.append(
                    f"not better on the new data's dev slice: {100 * new:.1f} against "
                    f"{against}; it needs more than +{100 * rules.min_gain:.1f}"
                )
        elif new < base - rules.margin:
            row = Row(name, row.production, new, "worse", row.first)
            drop = f", a drop of {100 * (base - new):.1f} points from it" if by_first else ""
            reasons.append(
                f"worse on {name}: {100 * new:.1f} against {against}{drop} "
                f"(allowed drop {100 * rules.margin:.1f})"
            )
        rows.append(row)
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
    first_json = None if first is None else {
        "version": first.version, "tag": first.tag,
        "scores": {n: float(f["main"]) for n, f in (other or production or {}).items()},
    }  # fmt: skip
    return GateResult(
        not reasons, rows, reasons, rules, kept, versions[0], versions[1], first_json,
        dict(slices or {}),
    )  # fmt: skip


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)
