"""CoNLL-style token files (ConfliBERT's re3d and CAMEO NER) into text with char spans."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ConllSentence:
    line: int  # 1-based line of the sentence's first token, for error messages
    tokens: list[str]
    tags: list[str]


@dataclass(frozen=True)
class TaggedSpan:
    start: int
    end: int
    label: str


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


def join_tokens(tokens: list[str], tags: list[str]) -> tuple[str, list[TaggedSpan]]:
    """Join tokens with single spaces and turn BIO tags into character spans.

    An I- tag that does not continue a span of the same label starts a new one (the
    usual seqeval reading), so no annotated token is dropped.
    """
    offsets: list[tuple[int, int]] = []
    pos = 0
    for tok in tokens:
        offsets.append((pos, pos + len(tok)))
        pos += len(tok) + 1
    text = " ".join(tokens)
    spans: list[TaggedSpan] = []
    cur: list[int] | None = None  # [start, end] of the open span
    cur_label = ""
    for (s, e), tag in zip(offsets, tags, strict=True):
        prefix, _, label = tag.partition("-")
        if tag == "O" or prefix not in ("B", "I") or not label:
            if cur:
                spans.append(TaggedSpan(cur[0], cur[1], cur_label))
            cur = None
            continue
        if prefix == "I" and cur and label == cur_label:
            cur[1] = e
            continue
        if cur:
            spans.append(TaggedSpan(cur[0], cur[1], cur_label))
        cur, cur_label = [s, e], label
    if cur:
        spans.append(TaggedSpan(cur[0], cur[1], cur_label))
    return text, spans
