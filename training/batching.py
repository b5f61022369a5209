"""Batches by token budget, sorted by length, and their collation into tensors."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from serving.heads import SEGMENT_HEADS, TOKEN_HEADS
from training.features import IGNORE, Features


def budget_batches(
    items: Sequence[Features], batch_tokens: int, rng: np.random.Generator | None
) -> list[list[int]]:
    """Indices grouped so that (windows x longest window) stays within the budget.

    Sorting by length keeps padding small; with `rng`, records are first shuffled and
    sorted within large chunks, and the batches are shuffled, so epochs differ.
    """
    order = np.arange(len(items))
    if rng is not None:
        rng.shuffle(order)
    chunk = 64 * 8
    batches: list[list[int]] = []
    for c in range(0, len(order), chunk):
        part = sorted(order[c : c + chunk], key=lambda i: max(len(w) for w in items[i].windows))
        current: list[int] = []
        longest = windows = 0
        for i in part:
            item = items[i]
            item_longest = max(len(w) for w in item.windows) + 2
            new_longest = max(longest, item_longest)
            if current and new_longest * (windows + len(item.windows)) > batch_tokens:
                batches.append(current)
                current, longest, windows = [], 0, 0
                new_longest = item_longest
            current.append(int(i))
            longest, windows = new_longest, windows + len(item.windows)
        if current:
            batches.append(current)
    if rng is not None:
        rng.shuffle(batches)
    return batches


@dataclass
class Batch:
    input_ids: torch.Tensor  # [W, L]
    attention_mask: torch.Tensor  # [W, L]
    shape_ids: torch.Tensor  # [W, L], serving.shapes ids (NONE on special tokens)
    token_targets: dict[str, torch.Tensor]  # head -> [W, L] (IGNORE, O_FLEX or tag id)
    flex: dict[str, torch.Tensor]  # head -> [W, n_tags] bool
    # Segment pooling: weights [S, W*L] (mean over a segment's tokens), group of each
    # segment [S], and per head targets/masks [G, K].
    pool: torch.Tensor
    segment_group: torch.Tensor
    n_groups: int
    head_targets: dict[str, torch.Tensor]
    head_masks: dict[str, torch.Tensor]
    n_tokens: int  # real (non-pad) tokens
    # head -> [W, L, n_tags] a teacher's distributions; rows of zeros: no target
    soft: dict[str, torch.Tensor] = field(default_factory=dict)
    # head -> ([G, K] rehearsed probabilities, [G] bool: the group has them)
    rehearsed: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)


def collate(items: Sequence[Features], prefix: list[int], suffix: list[int], pad_id: int) -> Batch:
    rows = [(i, w) for i, it in enumerate(items) for w in range(len(it.windows))]
    length = max(len(items[i].windows[w]) for i, w in rows) + len(prefix) + len(suffix)
    n_rows = len(rows)
    ids = np.full((n_rows, length), pad_id, dtype=np.int64)
    mask = np.zeros((n_rows, length), dtype=np.int64)
    shapes = np.zeros((n_rows, length), dtype=np.int64)
    targets = {h: np.full((n_rows, length), IGNORE, dtype=np.int64) for h in TOKEN_HEADS}
    flex = {h: np.ones((n_rows, len(tags)), dtype=bool) for h, tags in TOKEN_HEADS.items()}
    soft_heads = sorted({h for it in items for h in it.soft})
    soft = {h: np.zeros((n_rows, length, len(TOKEN_HEADS[h])), np.float32) for h in soft_heads}
    row_of: dict[tuple[int, int], int] = {}
    p = len(prefix)
    for r, (i, w) in enumerate(rows):
        content = items[i].windows[w]
        seq = [*prefix, *content.tolist(), *suffix]
        ids[r, : len(seq)] = seq
        mask[r, : len(seq)] = 1
        shapes[r, p : p + len(content)] = items[i].shapes[w]
        for h in TOKEN_HEADS:
            targets[h][r, p : p + len(content)] = items[i].token_targets[h][w]
            flex[h][r] = items[i].flex[h]
        for h, windows in items[i].soft.items():
            soft[h][r, p : p + len(content)] = windows[w]
        row_of[(i, w)] = r
    pool_rows: list[tuple[int, int, int]] = []
    segment_group: list[int] = []
    head_targets = {h.name: [] for h in SEGMENT_HEADS}  # type: dict[str, list[np.ndarray]]
    head_masks = {h.name: [] for h in SEGMENT_HEADS}  # type: dict[str, list[np.ndarray]]
    groups = [group for it in items for group in it.groups]
    rehearsed = {
        h.name: (np.zeros((len(groups), len(h.labels)), np.float32), np.zeros(len(groups), bool))
        for h in SEGMENT_HEADS if any(h.name in group.rehearsed for group in groups)
    }  # fmt: skip
    g = 0
    for i, it in enumerate(items):
        for group in it.groups:
            for w, first, end in group.segments:
                pool_rows.append((row_of[(i, w)], p + first, p + end))
                segment_group.append(g)
            for head in SEGMENT_HEADS:
                values, m = group.targets.get(
                    head.name,
                    (np.zeros(len(head.labels), np.float32), np.zeros(len(head.labels), bool)),
                )
                head_targets[head.name].append(values)
                head_masks[head.name].append(m)
            for head_name, probs in group.rehearsed.items():
                rehearsed[head_name][0][g] = probs
                rehearsed[head_name][1][g] = True
            g += 1
    pool = np.zeros((len(pool_rows), n_rows * length), dtype=np.float32)
    for s, (r, first, end) in enumerate(pool_rows):
        pool[s, r * length + first : r * length + end] = 1.0 / (end - first)
    return Batch(
        input_ids=torch.from_numpy(ids),
        attention_mask=torch.from_numpy(mask),
        shape_ids=torch.from_numpy(shapes),
        token_targets={h: torch.from_numpy(t) for h, t in targets.items()},
        flex={h: torch.from_numpy(f) for h, f in flex.items()},
        pool=torch.from_numpy(pool),
        segment_group=torch.tensor(segment_group, dtype=torch.int64),
        n_groups=g,
        head_targets={
            k: torch.from_numpy(np.stack(v)) if v else torch.zeros(0)
            for k, v in head_targets.items()
        },
        head_masks={
            k: torch.from_numpy(np.stack(v)) if v else torch.zeros(0, dtype=torch.bool)
            for k, v in head_masks.items()
        },
        n_tokens=int(mask.sum()),
        soft={h: torch.from_numpy(a) for h, a in soft.items()},
        rehearsed={
            h: (torch.from_numpy(q), torch.from_numpy(r)) for h, (q, r) in rehearsed.items()
        },
    )


def iterate(
    items: Sequence[Features], batch_tokens: int, rng: np.random.Generator | None,
    prefix: list[int], suffix: list[int], pad_id: int,
) -> Iterator[Batch]:  # fmt: skip
    for idx in budget_batches(items, batch_tokens, rng):
        yield collate([items[i] for i in idx], prefix, suffix, pad_id)
