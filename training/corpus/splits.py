"""Deterministic split assignment: the same key always lands on the same side.

Assignment depends only on the key, the seed and the fractions (not on input order), so
adding a document never moves another one, and two views of the same text (a CAMEO
sentence and its PLOVER copy) land together when they share a key.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping

from training.corpus.record import Split

DEFAULT_SEED = 13


def _rank(key: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def assign_splits(
    keys: Iterable[str],
    fractions: Mapping[Split, float],
    *,
    seed: int = DEFAULT_SEED,
    strata: Mapping[str, Hashable] | None = None,
) -> dict[str, Split]:
    """Split keys by the given fractions, separately within each stratum.

    Within a stratum, keys are ordered by a seeded hash and cut at the cumulative
    fractions (rounded), so every stratum contributes in proportion.
    """
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-9:
        raise ValueError(f"split fractions must sum to 1, got {total}")
    groups: dict[Hashable, list[str]] = defaultdict(list)
    for key in sorted(set(keys)):
        groups[strata[key] if strata else None].append(key)
    out: dict[str, Split] = {}
    for members in groups.values():
        members.sort(key=lambda k: _rank(k, seed))
        n, start, cum = len(members), 0, 0.0
        for split, frac in fractions.items():
            cum += frac
            stop = round(cum * n)
            for key in members[start:stop]:
                out[key] = split
            start = stop
    return out


def hash_split(key: str, fractions: Mapping[Split, float], *, seed: int = DEFAULT_SEED) -> Split:
    """Order-free assignment of one key (for sets that grow, like carved dev splits)."""
    x = int(_rank(key, seed)[:12], 16) / float(16**12)
    cum = 0.0
    last = next(iter(fractions))
    for split, frac in fractions.items():
        cum += frac
        last = split
        if x < cum:
            return split
    return last


# Letters that transliteration spells out: ConfliBERT's IndiaPoliceEvents copies write
# "aEUR(tm)" where the upstream text has the mojibake "â€™".
_SPELLED = {"€": "eur", "œ": "oe", "¢": "c", "æ": "ae", "ß": "ss"}


def text_key(text: str) -> str:
    """Case-, accent-, space- and punctuation-blind key, so copies of one text match.

    Compatibility decomposition first (™ -> TM, â -> a + accent), then only letters and
    digits are kept; modifier letters (U+02BC, the apostrophe some texts use) count as
    punctuation.
    """
    out = []
    for ch in unicodedata.normalize("NFKD", text).casefold():
        if ch in _SPELLED:
            out.append(_SPELLED[ch])
            continue
        cat = unicodedata.category(ch)
        if cat[0] in "LN" and cat != "Lm":
            out.append(ch)
    return "".join(out)


def cameo_split(text: str, cameo_test_keys: set[str]) -> Split:
    """TEST if the text is a CAMEO test sentence, else a 90/10 train/dev hash of its key.

    CAMEO (ner and class) and PLOVER all split with this, so one sentence and its copies
    land on the same side: PLOVER's sentences are mostly CAMEO test sentences.
    """
    key = text_key(text)
    if key in cameo_test_keys:
        return Split.TEST
    return hash_split(key, {Split.TRAIN: 0.9, Split.DEV: 0.1})
