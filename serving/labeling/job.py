"""What a caller passes in (`LabelJob`) and gets back (`Summary`, `LabelingError`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Format = Literal["jsonl", "parquet"]
Precision = Literal["int8", "fp32"]


class LabelingError(ValueError):
    """A labeling job that cannot start or go on; the message says what to do."""


@dataclass(frozen=True)
class LabelJob:
    input: Path
    output: Path
    model: str = "production"
    text_field: str = "text"
    id_field: str | None = "id"
    workers: int | None = None  # None: one per core; 0: tag in this process
    # A unit sent to a worker ends at batch_docs records or batch_chars characters. Big
    # units pad less (the engine sorts a unit's windows by length: 256 short texts tag 10%
    # faster than 64); the character bound keeps a file of long articles in many units, so
    # every worker gets some.
    batch_docs: int = 256
    batch_chars: int = 65_536
    errors: Path | None = None  # default <OUT>.errors.jsonl
    format: Format | None = None  # default: from OUT's extension
    max_chars: int = 200_000
    drop_text: bool = False  # leave the text field out of the output records
    precision: Precision | None = None  # default: CONFLICT_TAGGER_PRECISION, else auto
    progress: bool = True
    commit_seconds: float = 1.0  # JSONL: fsync + checkpoint at most this often
    part_rows: int = 5_000  # Parquet: rows per part file (held in memory), the unit of a commit


@dataclass(frozen=True)
class Summary:
    output: Path
    errors: Path
    records_in: int
    records_out: int
    failed: int
    seconds: float
    model: str
    already_done: bool = False
    resumed_at: int = 0  # input records committed before this run started

    @property
    def docs_per_second(self) -> float:
        return self.records_in / self.seconds if self.seconds > 0 else 0.0

    def text(self) -> str:
        failed = f", {self.failed} failed (see {self.errors})" if self.failed else ", 0 failed"
        return (
            f"{self.records_in} records in, {self.records_out} out{failed}; "
            f"{self.docs_per_second:.1f} docs/s over {self.seconds:.1f} s with {self.model}; "
            f"output: {self.output}"
        )
