"""JSON-lines files: upstream objects and corpus records, with errors that name the file,
the line and (for records) the record id."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from training.corpus.record import Record


def read_objects(
    path: Path, fix: str = "re-fetch the data"
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a BOM at the start is ignored, and a
    `.gz` file is read through gzip. `fix` ends the error message: what to do."""
    gz = path.suffix.lower() == ".gz"
    enc = "utf-8-sig"
    with gzip.open(path, "rt", encoding=enc) if gz else path.open(encoding=enc) as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not a JSON object ({e}); {fix}") from e
            if not isinstance(obj, dict):
                raise ValueError(f"{path}:{n}: expected a JSON object, got {type(obj).__name__}")
            yield n, obj


def read_records(path: Path) -> Iterator[tuple[int, Record]]:
    """(line number, record) for each record; errors name the file, line and record id."""
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield n, Record.model_validate_json(line)
            except ValidationError as err:
                rid = _record_id(line)
                raise ValueError(f"{path}:{n} (record {rid}): {short_error(err)}") from None


def read_jsonl(path: Path) -> Iterator[Record]:
    """Read and validate records; errors name the file, line and record id."""
    for _, record in read_records(path):
        yield record


def validate_jsonl(path: Path) -> list[str]:
    """Every problem in a JSONL file of records, one message each (empty: all valid)."""
    problems: list[str] = []
    ids: dict[str, int] = {}
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = Record.model_validate_json(line)
            except ValidationError as err:
                problems.append(f"{path}:{n} (record {_record_id(line)}): {short_error(err)}")
                continue
            if record.id in ids:
                problems.append(
                    f"{path}:{n}: id {record.id!r} already used on line {ids[record.id]}"
                )
            ids.setdefault(record.id, n)
    return problems


def _record_id(line: str) -> str:
    try:
        value = json.loads(line).get("id")
    except (json.JSONDecodeError, AttributeError):
        return "?"
    return repr(value) if value is not None else "without id"


def short_error(err: ValidationError) -> str:
    """Pydantic's errors in one line: where in the record, and what."""
    parts = []
    for e in err.errors()[:5]:
        loc = ".".join(str(p) for p in e["loc"]) or "record"
        parts.append(f"{loc}: {e['msg']}")
    more = len(err.errors()) - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
