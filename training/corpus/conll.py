"""CoNLL-style token files (ConfliBERT's re3d and CAMEO NER) into text with char spans."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from serving.spans import LabelledSpan, bio_to_spans


@dataclass(frozen=True)
class ConllSentence:
    line: int  # 1-based line of the sentence's first token, for error messages
    tokens: list[str]
    tags: list[str]


def read_conll(path: Path, sep: str | None) -> Iterator[ConllSentence]:
    """Blank-line separated sentences of `token<sep>tag` lines (sep None: any whitespace)."""
    tokens: list[str] = []
    tags: list[str] = []
    first = 0
    with path.open(encoding="utf-8") as f:
        for n, raw in enumerate(f, start=1):
            line = raw.rstrip("\n").rstrip("\r")
            if not line.strip():
                if tokens:
                    yield ConllSentence(first, tokens, tags)
                tokens, tags = [], []
                continue
            parts = line.rsplit(sep, 1) if sep else line.rsplit(None, 1)
            if len(parts) != 2 or not parts[0].strip():
                raise ValueError(f"{path}:{n}: expected 'token{sep or ' '}tag', got {line!r}")
            if not tokens:
                first = n
            tokens.append(parts[0].strip())
            tags.append(parts[1].strip())
    if tokens:
        yield ConllSentence(first, tokens, tags)


def join_tokens(tokens: list[str], tags: list[str]) -> tuple[str, list[LabelledSpan]]:
    """Join tokens with single spaces and read their BIO tags as character spans."""
    offsets: list[tuple[int, int]] = []
    pos = 0
    for tok in tokens:
        offsets.append((pos, pos + len(tok)))
        pos += len(tok) + 1
    return " ".join(tokens), bio_to_spans(offsets, tags)
