"""The Rust `tokenizers` tokenizer, with offsets, set up for windowing.

Both training and serving tokenize through this class, from the artifact's own
`tokenizer.json`, so the two can never disagree on tokens or offsets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer as RustTokenizer

from serving.shapes import token_shapes

# Tokens without a letter or digit (punctuation, symbols, emoji) in a row that the model
# reads; the rest of such a run is skipped: it carries no name, weapon or event, and
# 200,000 characters of "!" would otherwise be 200,000 tokens (minutes of model time).
MAX_JUNK_RUN = 2


@dataclass(frozen=True)
class Encoded:
    """One text's content tokens (no special tokens) and their character offsets."""

    ids: np.ndarray  # int64 [n]
    offsets: np.ndarray  # int64 [n, 2], into the original text
    shapes: np.ndarray | None = None  # int64 [n], serving.shapes ids; None: all NONE

    def shape_ids(self) -> np.ndarray:
        return self.shapes if self.shapes is not None else np.zeros(len(self.ids), np.int64)


class Tokenizer:
    def __init__(self, tokenizer: RustTokenizer) -> None:
        # Windowing owns length and padding: a tokenizer.json that truncates (as
        # sentence-transformers ships them, at 128) would silently cut documents.
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tok = tokenizer
        probe = tokenizer.encode("a", add_special_tokens=True)
        first = probe.special_tokens_mask.index(0)
        last = len(probe.ids) - probe.special_tokens_mask[::-1].index(0)
        self.prefix: list[int] = probe.ids[:first]  # e.g. [CLS]
        self.suffix: list[int] = probe.ids[last:]  # e.g. [SEP]
        pad = tokenizer.token_to_id("[PAD]")
        if pad is None:
            pad = tokenizer.token_to_id("<pad>")
        self.pad_id: int = 0 if pad is None else pad
        # Which vocabulary entries hold no letter or digit ("##" continuations included);
        # the unknown token stands for any character, so its own text decides.
        vocab = tokenizer.get_vocab()
        self._junk = np.zeros(max(vocab.values(), default=0) + 1, dtype=bool)
        for piece, index in vocab.items():
            bare = piece.removeprefix("##")
            self._junk[index] = bool(bare) and not any(c.isalnum() for c in bare)
        self._unk = tokenizer.token_to_id("[UNK]")

    @classmethod
    def from_file(cls, path: Path | str) -> Tokenizer:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no tokenizer at {path}: a model needs its tokenizer.json")
        return cls(RustTokenizer.from_file(str(path)))

    def save(self, path: Path | str) -> None:
        self._tok.save(str(path))

    @property
    def specials(self) -> int:
        """How many special tokens wrap each window."""
        return len(self.prefix) + len(self.suffix)

    def count(self, texts: list[str]) -> int:
        """Content tokens of `texts` as the model reads them (`encode_batch`): what a
        request costs, without the work of word shapes."""
        encodings = self._tok.encode_batch(texts, add_special_tokens=False)
        return sum(
            int(self._read(text, np.asarray(enc.ids, dtype=np.int64), enc.offsets).sum())
            for text, enc in zip(texts, encodings, strict=True)
        )

    def encode_batch(self, texts: list[str]) -> list[Encoded]:
        out = []
        for text, enc in zip(texts, self._tok.encode_batch(texts, add_special_tokens=False),
                             strict=True):  # fmt: skip
            ids = np.asarray(enc.ids, dtype=np.int64)
            keep = self._read(text, ids, enc.offsets)
            offsets = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)[keep]
            out.append(Encoded(ids[keep], offsets, token_shapes(text, offsets)))
        return out

    def _read(self, text: str, ids: np.ndarray, offsets: list[tuple[int, int]]) -> np.ndarray:
        """bool [n]: the tokens the model reads (junk_runs_cut)."""
        junk = self._junk[ids] if len(self._junk) else np.zeros(len(ids), dtype=bool)
        for i in np.nonzero(ids == self._unk)[0].tolist() if self._unk is not None else []:
            a, b = offsets[i]
            junk[i] = not any(c.isalnum() for c in text[a:b])
        return junk_runs_cut(junk)


def junk_runs_cut(junk: np.ndarray) -> np.ndarray:
    """bool [n]: False for a token past the first MAX_JUNK_RUN of a run of tokens without
    letters or digits (`junk`). Offsets of the tokens kept still point into the text."""
    if not junk.any():
        return np.ones(len(junk), dtype=bool)
    index = np.arange(len(junk))
    # Where each token's run of junk began: one past the last token that was not junk.
    run_start = np.maximum.accumulate(np.where(junk, 0, index + 1))
    out: np.ndarray = ~junk | (index - run_start < MAX_JUNK_RUN)
    return out
