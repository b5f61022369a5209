"""read_corrections: every file, format detected per file, into records or one error."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from training.corpus.record import Record
from training.corrections import conll, label_studio, labeler, project
from training.corrections.build import Found
from training.corrections.errors import CorrectionsError, raise_if_any
from training.corrections.files import Format, detect

READERS: dict[Format, Callable[[Path, str, Found], None]] = {
    "records": project.read,
    "labeler": labeler.read,
    "label_studio": label_studio.read,
    "conll": conll.read,
}
NAMES: dict[Format, str] = {
    "records": "project records",
    "labeler": "corrected batch-labeler output",
    "label_studio": "Label Studio JSON export",
    "conll": "CoNLL",
}

REVIEWED: frozenset[Format] = frozenset({"labeler", "label_studio"})


def read_corrections(
    paths: Sequence[Path], text_field: str = "text"
) -> tuple[list[Record], list[str]]:
    """Records of collection "corrections" (split TRAIN until merged) and notes: what was
    read from each file, what was skipped and why.

    Every file is read before failing, so the CorrectionsError lists every invalid record
    (file, line, row or task id), not just the first.
    """
    found = Found(records=[], problems=[], notes=[])
    for path in paths:
        if not path.is_file():
            found.problems.append(f"{path}: no such file; check the path")
            continue
        before = len(found.records)
        try:
            fmt = detect(path, text_field)
            READERS[fmt](path, text_field, found)
        except CorrectionsError as e:
            found.problems.extend(e.problems)
            continue
        found.notes.append(f"{path}: {len(found.records) - before} record(s), {NAMES[fmt]}")
        if fmt in REVIEWED:
            found.notes.append(
                f"{path}: actor roles (SOURCE_ACTOR, TARGET_ACTOR, RECIPROCAL_ACTOR) are not "
                "imported from reviewed output; entities, event roles and event types are"
            )
    raise_if_any(found.problems)
    return found.records, found.notes
