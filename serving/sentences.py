"""Sentence boundaries for news text, as character spans, without a model.

Per-sentence event types and event records need sentences at inference time, when no
annotation gives them. Rules: a sentence ends at ., ! or ? (and closing quotes or
brackets) followed by white space and a plausible sentence start, unless the word before
the full stop is a known abbreviation or an initial; a blank line always ends one.
"""

from __future__ import annotations

import re

# Words after which a full stop rarely ends a sentence in news text.
_ABBREVIATIONS = """mr mrs ms dr prof gen col lt capt maj sgt cpl pvt adm brig cmdr gov sen rep
pres st jr sr no vol fig dept univ inc corp ltd co est approx vs etc jan feb mar apr jun jul
aug sep sept oct nov dec mt ft rev hon"""
ABBREVIATIONS = frozenset(_ABBREVIATIONS.split())
# Possessive runs that start where a run starts: a run of 200,000 "!" is tried once, not
# once per character with backtracking (which made this scan quadratic).
_END = re.compile(r"(?<![.!?])[.!?]++[\"'\u201d\u2019)\]]*+(?=\s)")
_START = re.compile(r"\s++[\"'\u201c\u2018(\[]*[A-Z0-9\u00C0-\u024F\u0400-\u04FF]")
_BLANK = re.compile(r"\n\s*\n")


# Longer words are never abbreviations: looking no further back keeps each test O(1).
_LOOKBACK = 32
_WORD_BEFORE = re.compile(r"[A-Za-z.]+$")


def _is_abbreviation(text: str, dot: int) -> bool:
    word = _WORD_BEFORE.search(text, max(0, dot - _LOOKBACK), dot)
    if word is None:
        return False
    token = word.group(0).rstrip(".")
    # Single letters (initials, "U.S.") and the listed abbreviations.
    return len(token.replace(".", "")) <= 1 or "." in token or token.lower() in ABBREVIATIONS


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of every sentence, without leading or trailing white space."""
    cuts = {m.start() for m in _BLANK.finditer(text)}
    for m in _END.finditer(text):
        if not _START.match(text, m.end()):
            continue
        if (
            text[m.start()] == "."
            and m.end() - m.start() == 1
            and _is_abbreviation(text, m.start())
        ):
            continue
        cuts.add(m.end())
    spans: list[tuple[int, int]] = []
    begin = 0
    for cut in [*sorted(cuts), len(text)]:
        piece = text[begin:cut]
        stripped = piece.strip()
        if stripped:
            start = begin + (len(piece) - len(piece.lstrip()))
            spans.append((start, start + len(stripped)))
        begin = cut
    return spans
