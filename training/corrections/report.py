"""What a merge did, for the terminal and for a Markdown report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

SHOWN = 10  # ids listed per list; the rest are counted


@dataclass
class MergeReport:
    folder: Path
    added: int = 0  # new texts
    replaced: int = 0  # texts already in the folder, now corrected again (split kept)
    duplicates_in_new: int = 0  # replaced by a later record of the same import
    train_duplicates: int = 0  # same text as a reference train record: kept
    dropped_eval_duplicates: int = 0  # same text as a reference dev/test record: dropped
    train: int = 0  # records in the folder after the merge
    dev: int = 0
    superseded: list[str] = field(default_factory=list)  # "<earlier> by <later>" locations
    train_duplicate_refs: list[str] = field(default_factory=list)  # reference ids
    dropped: list[str] = field(default_factory=list)  # "<source> (same text as <ref ids>)"
    moved_to_dev: str | None = None  # moved so that dev is not empty

    def lines(self) -> list[str]:
        out = [
            f"corrections in {self.folder}: {self.train} train, {self.dev} dev",
            f"added {self.added}, replaced {self.replaced} (split kept), "
            f"{self.duplicates_in_new} duplicate(s) within this import (the later kept)",
        ]
        if self.train_duplicates:
            out.append(
                f"{self.train_duplicates} kept with the same text as reference train "
                f"records: {_some(self.train_duplicate_refs)}"
            )
        if self.dropped_eval_duplicates:
            out.append(
                f"{self.dropped_eval_duplicates} dropped, same text as a dev/test record "
                f"(would leak evaluation data into training): {_some(self.dropped)}"
            )
        if self.moved_to_dev:
            out.append(f"moved {self.moved_to_dev} to dev so that dev is not empty")
        return out

    def markdown(self) -> str:
        rows = [
            ("added", self.added),
            ("replaced (split kept)", self.replaced),
            ("duplicates within this import (the later kept)", self.duplicates_in_new),
            ("same text as a reference train record (kept)", self.train_duplicates),
            ("same text as a reference dev/test record (dropped)", self.dropped_eval_duplicates),
            ("train after the merge", self.train),
            ("dev after the merge", self.dev),
        ]
        out = [f"### Corrections merged into `{self.folder}`", "", "| | records |", "|---|---:|"]
        out += [f"| {name} | {n} |" for name, n in rows]
        lists = [
            ("Superseded within this import", self.superseded),
            ("Reference train records with the same text", self.train_duplicate_refs),
            ("Dropped, would leak evaluation data into training", self.dropped),
        ]
        for title, items in lists:
            if items:
                out += ["", f"{title}: {_some(items, code=True)}"]
        if self.moved_to_dev:
            out += ["", f"Moved `{self.moved_to_dev}` to dev so that dev is not empty."]
        return "\n".join(out) + "\n"


def _some(items: list[str], code: bool = False) -> str:
    shown = [f"`{i}`" if code else i for i in items[:SHOWN]]
    more = len(items) - SHOWN
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")
