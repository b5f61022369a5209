"""Which format a file is in, and its raw objects (JSON lines, plain or gzip, or Parquet
rows) with their line or row numbers."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, Literal

from serving.labeling import arrow
from training.corpus.jsonlines import read_objects
from training.corrections.errors import CorrectionsError

Format = Literal["records", "labeler", "label_studio", "conll"]
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
CONLL_SUFFIXES = (".conll", ".txt", ".bio", ".tsv")
ACCEPTED = (
    "project records or corrected batch-labeler output (.jsonl, .jsonl.gz), "
    "batch-labeler output (.parquet), a Label Studio JSON export (.json), "
    "CoNLL token/tag lines (.conll, .txt, .bio, .tsv)"
)


def detect(path: Path, text_field: str) -> Format:
    """The format of one file, from its name and (for JSON lines) its first object."""
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "labeler"
    if name.endswith(".json"):
        return "label_studio"
    if name.endswith(CONLL_SUFFIXES):
        return "conll"
    if not name.endswith(JSONL_SUFFIXES):
        raise CorrectionsError(f"{path}: unknown file format; accepted: {ACCEPTED}")
    with closing(json_lines(path)) as lines:
        for n, obj in lines:
            if "annotated" in obj and "text" in obj:
                return "records"
            if "tags" in obj:
                return "labeler"
            raise CorrectionsError(
                f"{path}:{n}: neither a project record (with 'annotated' and 'text') nor "
                f"corrected batch-labeler output (with {text_field!r} and 'tags'); "
                f"accepted: {ACCEPTED}"
            )
    raise CorrectionsError(f"{path}: the file holds no records; remove it from the list")


def json_lines(path: Path) -> Generator[tuple[int, dict[str, Any]], None, None]:
    """(line number, object) for each non-blank line of a JSONL file, gzip or not."""
    try:
        yield from read_objects(path, "fix that line")
    except ValueError as e:
        raise CorrectionsError(str(e)) from None
    except (OSError, EOFError) as e:
        raise CorrectionsError(f"{path}: cannot read the file ({e})") from None


def parquet_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(1-based row number, row) for each row of a Parquet file, a batch at a time."""
    try:
        pq_file = arrow.parquet().ParquetFile(path)
    except (OSError, *arrow.ARROW_ERRORS) as e:
        raise CorrectionsError(f"{path}: cannot read it as Parquet ({e})") from None
    n = 0
    for batch in pq_file.iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            n += 1
            yield n, row
