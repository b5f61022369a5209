"""merge_corrections: new corrections into the folder's train.jsonl and dev.jsonl.

Duplicates are the same text up to text_key. A text already in the folder keeps its
split, and a new text's split comes from its own hash, so adding records never moves
another between train and dev (dev scores stay comparable across imports).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from training.corpus.build import write_jsonl
from training.corpus.jsonlines import read_records
from training.corpus.record import Record, Split
from training.corrections.build import COLLECTION, key_hash, record_id, text_key
from training.corrections.errors import CorrectionsError
from training.corrections.report import MergeReport

FILES = {Split.TRAIN: "train.jsonl", Split.DEV: "dev.jsonl"}


def merge_corrections(
    new: Sequence[Record], folder: Path, reference: Iterable[Record], dev_percent: int = 20
) -> MergeReport:
    """Merge `new` into `folder/train.jsonl` and `folder/dev.jsonl` (created if absent).

    `reference` is the rest of the corpus: a correction with the text of a reference dev
    or test record is dropped (it would leak evaluation data into training). Reference
    records of the "corrections" collection are ignored: they are this folder's records.
    """
    if not 0 <= dev_percent <= 100:
        raise CorrectionsError(f"dev_percent is {dev_percent}; give a percentage, 0 to 100")
    report = MergeReport(folder=folder)
    merged = _read_folder(folder)
    train_refs, eval_refs = _reference(reference)
    latest: dict[str, Record] = {}
    for record in new:
        key = text_key(record.text)
        if key in latest:
            report.duplicates_in_new += 1
            report.superseded.append(f"{_where(latest[key])} by {_where(record)}")
        latest[key] = record
    for key, record in latest.items():
        if key in eval_refs:
            report.dropped_eval_duplicates += 1
            report.dropped.append(f"{_where(record)} (same text as {', '.join(eval_refs[key])})")
            continue
        if key in train_refs:
            report.train_duplicates += 1
            report.train_duplicate_refs += train_refs[key]
        old = merged.get(key)
        if old is not None:
            report.replaced += 1
            split = old.split
        else:
            report.added += 1
            split = dev_split(key, dev_percent)
        merged[key] = record.model_copy(update={"id": record_id(record.text), "split": split})
    if len(merged) >= 2 and all(r.split is not Split.DEV for r in merged.values()):
        # An empty dev file would leave the retrained model unchecked on corrections.
        key = min(merged, key=key_hash)
        merged[key] = merged[key].model_copy(update={"split": Split.DEV})
        report.moved_to_dev = merged[key].id
    ordered = sorted(merged.values(), key=lambda r: r.id)
    for split, name in FILES.items():
        write_jsonl([r for r in ordered if r.split is split], folder / name)
    report.train = sum(r.split is Split.TRAIN for r in ordered)
    report.dev = sum(r.split is Split.DEV for r in ordered)
    return report


def dev_split(key: str, dev_percent: int) -> Split:
    """From the text alone, so a record's split never depends on what else is imported."""
    return Split.DEV if int(key_hash(key)[:8], 16) % 100 < dev_percent else Split.TRAIN


def _read_folder(folder: Path) -> dict[str, Record]:
    """The folder's records by text key; each takes the split of the file it is in."""
    found: dict[str, Record] = {}
    for split, name in FILES.items():
        path = folder / name
        if not path.is_file():
            continue
        try:
            for _, record in read_records(path):
                found[text_key(record.text)] = record.model_copy(update={"split": split})
        except ValueError as e:
            raise CorrectionsError(f"{e}; fix the line or restore the file") from None
    return found


def _reference(records: Iterable[Record]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Reference ids by text key: (train, dev or test)."""
    train: dict[str, list[str]] = {}
    held_out: dict[str, list[str]] = {}
    for r in records:
        if r.collection == COLLECTION:
            continue
        into = train if r.split is Split.TRAIN else held_out
        into.setdefault(text_key(r.text), []).append(r.id)
    return train, held_out


def _where(record: Record) -> str:
    return f"{record.source.file} ({record.source.upstream_id})"
