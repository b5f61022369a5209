"""Format 1: files already in the project's record format (data/README.md), e.g. written
by a person or by another tool of this project."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from training.corpus.jsonlines import short_error
from training.corpus.record import Record, Split
from training.corrections.build import COLLECTION, Found, record_id
from training.corrections.errors import CorrectionsError
from training.corrections.files import json_lines


def read(path: Path, text_field: str, found: Found) -> None:
    del text_field  # records always keep their text in `text`
    for n, obj in json_lines(path):
        where = f"{path}:{n} (record {obj.get('id', 'without id')!r})"
        try:
            found.records.append(convert(obj, path, n, where))
        except CorrectionsError as e:
            found.problems.append(str(e))


def convert(obj: dict[str, Any], path: Path, line: int, where: str) -> Record:
    """The record as a correction: its labels as given, our id, collection and source."""
    text = obj.get("text")
    if not isinstance(text, str) or not text.strip():
        raise CorrectionsError(f"{where}: the text is empty or missing; give the document text")
    original = obj.get("source")
    lowercased = isinstance(original, dict) and original.get("lowercased") is True
    upstream = obj.get("id")
    data = {
        **obj,
        "id": record_id(text),
        "collection": COLLECTION,
        "split": Split.TRAIN.value,
        "source": {
            "dataset": COLLECTION,
            "file": str(path),
            "upstream_id": str(upstream) if upstream is not None else f"line {line}",
            "lowercased": lowercased,
        },
    }
    try:
        return Record.model_validate(data)
    except ValidationError as err:
        raise CorrectionsError(f"{where}: {short_error(err)}") from None
