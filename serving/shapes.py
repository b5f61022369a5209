"""Word shapes: the casing the uncased encoder cannot see, one small id per token.

The encoder lowercases its input, so "US" and "us", "Hezbollah" and "hezbollah" look
the same to it. Each token also gets the shape of its own characters in the original
text; the model adds a learned embedding of it to the token's embedding (inside the
exported graph), so casing can help tell names from common words.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

SHAPES = ("none", "lower", "capital", "upper", "mixed", "uncased", "digit", "other")
NONE = 0  # special tokens and padding


@lru_cache(maxsize=65536)
def shape(piece: str) -> int:
    """The shape id of one token's characters."""
    if not piece:
        return NONE
    if piece.islower():
        return SHAPES.index("lower")
    if piece.isupper():
        cased = sum(c.lower() != c for c in piece)
        return SHAPES.index("upper" if cased > 1 else "capital")
    if piece[0].isupper() and piece[1:].islower():
        return SHAPES.index("capital")
    if any(c.lower() != c.upper() for c in piece):
        return SHAPES.index("mixed")
    if any(c.isalpha() for c in piece):
        return SHAPES.index("uncased")  # scripts without case: Arabic, Chinese, ...
    if any(c.isdigit() for c in piece):
        return SHAPES.index("digit")
    return SHAPES.index("other")


def token_shapes(text: str, offsets: np.ndarray) -> np.ndarray:
    """int64 [n]: the shape of each token's span [start, end) of `text`."""
    return np.fromiter(
        (shape(text[a:b]) for a, b in offsets.tolist()), dtype=np.int64, count=len(offsets)
    )
