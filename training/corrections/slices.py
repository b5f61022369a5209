"""The corrections' dev records in two slices: "select" picks the candidate's epoch and
tunes its thresholds, "gate" is read by the promotion gate alone. A gate that judges on the
records the candidate was chosen on rewards fitting them, not getting better.

The slice of a record follows from its id alone, so it never moves as corrections are
added, and the train/dev split (a hash of the text, in merge.py) does not skew it.
"""

from __future__ import annotations

import hashlib
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from training.corpus.build import write_jsonl
from training.corpus.jsonlines import read_records
from training.corpus.record import Record
from training.corrections.errors import CorrectionsError

Slice = Literal["select", "gate"]
RULE = "sha256 of the record id, its first 8 hex digits as an integer: odd -> gate, even -> select"
MIN_SLICE = 2  # dev records each slice needs, by default


@dataclass(frozen=True)
class Slices:
    select: int
    gate: int
    rule: str = RULE

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def slice_of(record_id: str) -> Slice:
    digest = hashlib.sha256(record_id.encode("utf-8")).hexdigest()
    return "gate" if int(digest[:8], 16) % 2 else "select"


def split_dev(
    corrections: Path, select_dir: Path, gate_file: Path, min_records: int = MIN_SLICE,
    dev_percent: int = 20,
) -> Slices:  # fmt: skip
    """Write `select_dir/{train,dev}.jsonl` (what training reads: all train records, the
    select slice of dev) and `gate_file` (the gate slice); fail before any training when a
    slice would hold fewer than `min_records`."""
    dev = [r for _, r in read_records(corrections / "dev.jsonl")]
    chosen: dict[Slice, list[Record]] = {"select": [], "gate": []}
    for record in dev:
        chosen[slice_of(record.id)].append(record)
    counts = Slices(len(chosen["select"]), len(chosen["gate"]))
    if min(counts.select, counts.gate) < min_records:
        train = sum(1 for _ in read_records(corrections / "train.jsonl"))
        raise CorrectionsError(too_few(counts, min_records, train + len(dev), dev_percent))
    select_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(corrections / "train.jsonl", select_dir / "train.jsonl")
    write_jsonl(chosen["select"], select_dir / "dev.jsonl")
    write_jsonl(chosen["gate"], gate_file)
    return counts


def too_few(counts: Slices, min_records: int, texts: int, dev_percent: int) -> str:
    # Half the dev records land in each slice on average, hence twice the minimum.
    needed = math.ceil(2 * min_records * 100 / max(dev_percent, 1))
    return (
        f"too few corrections for a gate slice of their own: of the "
        f"{counts.select + counts.gate} dev records, {counts.select} went to the select slice "
        f"(epoch choice, thresholds) and {counts.gate} to the gate slice ({RULE}); each needs "
        f"at least {min_records}. Import more corrected texts (you have {texts}; about "
        f"{max(needed, texts + 1)} in all at --dev-percent {dev_percent}), raise --dev-percent "
        "or lower --min-slice"
    )
