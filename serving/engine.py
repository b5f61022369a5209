"""The one inference path: tokenize -> windows -> batches by token budget -> backend ->
decode. Training-time evaluation, and later the HTTP service and batch labeling, call
this same code; only the backend (torch or ONNX Runtime) differs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from serving.decode import Decoded, decode_text, merge_windows
from serving.tokenizer import Encoded, Tokenizer
from serving.windows import Window, make_windows


class Backend(Protocol):
    """input_ids, attention_mask, shape_ids [B, L] int64 -> named logits [B, L, K] float32.
    shape_ids (serving.shapes) may be None: all NONE, as for a model without casing."""

    def __call__(
        self, input_ids: np.ndarray, attention_mask: np.ndarray,
        shape_ids: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]: ...  # fmt: skip


# Padded tokens per backend call. Small batches keep a layer's activations in the CPU's
# caches: on 2 cores, 512 tagged short sentences 1.7x faster (fp32 and int8) than
# 8192 did (benchmarks/performance.md), and long documents no slower.
BATCH_TOKENS = 512


@dataclass(frozen=True)
class EngineSettings:
    window_size: int = 254  # content tokens per window
    window_stride: int = 192
    batch_tokens: int = BATCH_TOKENS
    document_pooling: str = "windows"  # or "sentences" (serving.decode.decode_text)


class Engine:
    def __init__(self, tokenizer: Tokenizer, backend: Backend, settings: EngineSettings) -> None:
        self.tokenizer = tokenizer
        self.backend = backend
        self.settings = settings

    def run(
        self, texts: Sequence[str], sentences: Sequence[list[tuple[int, int]] | None] | None = None
    ) -> list[Decoded]:
        """Decode every text; `sentences` gives character spans to score per text."""
        encoded, windows, outputs = self._forward(texts)
        spans = sentences if sentences is not None else [None] * len(texts)
        pooling = self.settings.document_pooling
        return [
            decode_text(texts[t], enc.offsets, windows[t], outputs[t], spans[t], pooling)
            for t, enc in enumerate(encoded)
        ]

    def token_logits(self, texts: Sequence[str]) -> list[tuple[Encoded, dict[str, np.ndarray]]]:
        """Every text's tokens and their merged logits per head (training's teachers)."""
        encoded, windows, outputs = self._forward(texts)
        return [
            (enc, merge_windows(windows[t], outputs[t], len(enc.ids)))
            for t, enc in enumerate(encoded)
        ]

    def _forward(
        self, texts: Sequence[str]
    ) -> tuple[list[Encoded], list[list[Window]], list[list[dict[str, np.ndarray]]]]:
        """Tokens, windows and every window's outputs (content positions only), per text."""
        s = self.settings
        encoded = self.tokenizer.encode_batch(list(texts))
        windows = [make_windows(len(e.ids), s.window_size, s.window_stride) for e in encoded]
        jobs = [(t, w) for t, ws in enumerate(windows) for w in range(len(ws))]
        length = {job: windows[job[0]][job[1]].end - windows[job[0]][job[1]].start for job in jobs}
        jobs.sort(key=lambda j: length[j])
        outputs: dict[tuple[int, int], dict[str, np.ndarray]] = {}
        p = len(self.tokenizer.prefix)
        for batch in _by_budget(jobs, length, s.batch_tokens, self.tokenizer.specials):
            longest = max(length[j] for j in batch) + self.tokenizer.specials
            ids = np.full((len(batch), longest), self.tokenizer.pad_id, dtype=np.int64)
            mask = np.zeros((len(batch), longest), dtype=np.int64)
            shapes = np.zeros((len(batch), longest), dtype=np.int64)
            for r, (t, w) in enumerate(batch):
                win: Window = windows[t][w]
                seq = [*self.tokenizer.prefix, *encoded[t].ids[win.start : win.end].tolist(),
                       *self.tokenizer.suffix]  # fmt: skip
                ids[r, : len(seq)] = seq
                mask[r, : len(seq)] = 1
                shapes[r, p : p + win.end - win.start] = encoded[t].shape_ids()[win.start : win.end]
            result = self.backend(ids, mask, shapes)
            for r, job in enumerate(batch):
                outputs[job] = {k: v[r, p : p + length[job]] for k, v in result.items()}
        per_text = [[outputs[(t, w)] for w in range(len(windows[t]))] for t in range(len(texts))]
        return encoded, windows, per_text


def _by_budget(
    jobs: list[tuple[int, int]], length: dict[tuple[int, int], int], budget: int, specials: int
) -> list[list[tuple[int, int]]]:
    """Consecutive (length-sorted) jobs while rows x longest stays within the budget."""
    batches: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    for job in jobs:
        longest = length[job] + specials  # sorted: the newest is the longest
        if current and longest * (len(current) + 1) > budget:
            batches.append(current)
            current = []
        current.append(job)
    if current:
        batches.append(current)
    return batches
