"""What a conversion had to skip or resolve, kept for the data report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    dataset: str
    file: str
    where: str  # record id, line number or upstream id: enough to find it
    kind: str  # short, stable category, e.g. "offset_mismatch"
    detail: str


@dataclass
class ConversionLog:
    """Collects skipped spans and resolved conflicts instead of guessing silently."""

    problems: list[Problem] = field(default_factory=list)
    # (dataset, kind) -> how many times a documented rule resolved something
    resolved: Counter[tuple[str, str]] = field(default_factory=Counter)

    def skip(self, dataset: str, file: str, where: str, kind: str, detail: str) -> None:
        """Record something that was left out of the corpus (a span, a record)."""
        self.problems.append(Problem(dataset, file, where, kind, detail))

    def resolve(self, dataset: str, kind: str, n: int = 1) -> None:
        """Count one application of a documented, deterministic resolution rule."""
        self.resolved[(dataset, kind)] += n

    def skipped(self, dataset: str | None = None) -> list[Problem]:
        return [p for p in self.problems if dataset is None or p.dataset == dataset]
