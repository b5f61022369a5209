"""Overlapping windows over a long token sequence: documents are windowed, never cut.

Each token is read from the window where it sits furthest from an edge, so it sees the
most context on both sides; `owner` says which window that is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Window:
    start: int  # first content token (index into the text's tokens)
    end: int  # one past the last


def make_windows(n_tokens: int, size: int, stride: int) -> list[Window]:
    """Windows of at most `size` tokens, each starting `stride` after the previous one.

    The last window is aligned to the end, so no window is mostly empty; an empty text
    still gets one (empty) window, so every text yields a result.
    """
    if size < 1 or not 0 < stride <= size:
        raise ValueError(f"need size >= 1 and 0 < stride <= size, got size={size}, stride={stride}")
    if n_tokens <= size:
        return [Window(0, n_tokens)]
    starts = list(range(0, n_tokens - size, stride))
    starts.append(n_tokens - size)
    return [Window(s, s + size) for s in starts]


def owner(windows: list[Window], n_tokens: int) -> np.ndarray:
    """For each token, the window that reads it with the most context on both sides."""
    best = np.full(n_tokens, -1, dtype=np.int64)
    margin = np.full(n_tokens, -1, dtype=np.int64)
    for w_index, w in enumerate(windows):
        idx = np.arange(w.start, w.end)
        m = np.minimum(idx - w.start, w.end - 1 - idx)
        better = m > margin[idx]
        best[idx[better]] = w_index
        margin[idx[better]] = m[better]
    return best
