"""Runs of consecutive sentence records joined into multi-sentence training texts.

The service reads whole articles in windows of up to 254 tokens, but the only corpus
with every entity marked (re3d's ConfliBERT split) is a list of single sentences. A model
that sees names only in short texts learns less about them in long windows; joining
neighbouring sentences (they follow each other in their source documents) gives it
article-length windows with complete labels.
"""

from __future__ import annotations

from training.corpus.record import Record, Span


def packable(record: Record) -> bool:
    """Only span annotations can be joined without changing what a label means."""
    return not (
        record.events or record.coarse or record.sentences or record.templates
        or any(getattr(record.tasks, name) for name in type(record.tasks).model_fields)
    )  # fmt: skip


def starts(records: list[Record], separator: str = " ") -> list[int]:
    """Where each record's text begins once they are joined with `separator`."""
    out, offset = [], 0
    for r in records:
        out.append(offset)
        offset += len(r.text) + len(separator)
    return out


def join(records: list[Record], separator: str = " ") -> Record:
    """One record whose text is the records' texts separated by `separator`, with their
    spans moved to where their texts now stand."""
    spans: list[Span] = [
        s.model_copy(update={"start": s.start + offset, "end": s.end + offset})
        for r, offset in zip(records, starts(records, separator), strict=True)
        for s in r.spans
    ]
    first = records[0]
    text = separator.join(r.text for r in records)
    return first.model_copy(
        update={"id": f"{first.id}+{len(records) - 1}", "text": text, "spans": spans}
    )


def pack(records: list[Record], max_chars: int) -> list[Record]:
    """Greedy runs of neighbouring records, each run within `max_chars` characters.

    Records with other labels than spans, or annotated differently from their neighbour,
    end a run; runs of one record are left out (the record itself is already there).
    """
    out: list[Record] = []
    run: list[Record] = []

    def close() -> None:
        if len(run) > 1:
            out.append(join(run))
        run.clear()

    for r in records:
        if not packable(r):
            close()
            continue
        size = sum(len(x.text) + 1 for x in run) + len(r.text)
        if run and (size > max_chars or r.annotated != run[-1].annotated):
            close()
        run.append(r)
    close()
    return out
