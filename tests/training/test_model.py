import numpy as np
import pytest
import torch

from serving.heads import TOKEN_HEADS
from training.batching import budget_batches, collate
from training.features import IGNORE, O_FLEX, O_UNMARKED, Features, Group
from training.model import group_logits, token_loss


def test_token_loss_is_minus_log_probability_of_the_allowed_set() -> None:
    logits = torch.tensor([[[2.0, 0.0, 1.0], [0.0, 3.0, 0.0], [1.0, 1.0, 1.0]]])
    targets = torch.tensor([[0, O_FLEX, IGNORE]])
    flex = torch.tensor([[True, False, True]])
    p = torch.softmax(logits[0], -1)
    expected = -(torch.log(p[0, 0]) + torch.log(p[1, 0] + p[1, 2])) / 2
    assert torch.isclose(token_loss(logits, targets, flex), expected)


def test_flex_weight_makes_o_the_cheaper_answer() -> None:
    logits = torch.tensor([[[0.0, 3.0, 0.0]]])  # a confident "B-X" on a token marked O
    targets = torch.tensor([[O_FLEX]])
    flex = torch.tensor([[True, True, False]])  # label X was not annotated
    p = torch.softmax(logits[0, 0], -1)
    expected = -torch.log(p[0] + 0.1 * p[1])
    assert torch.isclose(token_loss(logits, targets, flex, 0.1), expected)
    assert token_loss(logits, targets, flex, 0.1) > token_loss(logits, targets, flex, 1.0)
    hard_o = -torch.log(p[0])
    assert torch.isclose(token_loss(logits, targets, flex, 0.0), hard_o, atol=1e-4)


def test_unmarked_tokens_pull_only_the_labels_their_layer_covers() -> None:
    # Tags: O, X (annotated, non-exhaustively), Y (not annotated by this dataset).
    logits = torch.tensor([[[0.0, 3.0, 1.0], [0.0, 3.0, 1.0]]])
    targets = torch.tensor([[O_FLEX, O_UNMARKED]])
    flex = torch.tensor([[True, False, True]])
    p = torch.softmax(logits[0, 0], -1)
    on_flex = -torch.log(p[0] + 0.1 * p[2])  # X ruled out, Y allowed at the flex weight
    on_unmarked = -torch.log(p[0] + 0.5 * p[1] + p[2])  # X weighed below O, Y free
    expected = (on_flex + on_unmarked) / 2
    assert torch.isclose(token_loss(logits, targets, flex, 0.1, 0.5), expected)


def test_token_loss_without_targets_is_zero() -> None:
    loss = token_loss(torch.zeros(1, 2, 3), torch.full((1, 2), IGNORE), torch.ones(1, 3).bool())
    assert float(loss) == 0.0


def feats(n_windows: int, length: int, groups: list[Group]) -> Features:
    return Features(
        record_id="r", collection="c",
        windows=[np.arange(length, dtype=np.int64) + 5 for _ in range(n_windows)],
        shapes=[np.ones(length, dtype=np.int64) for _ in range(n_windows)],
        token_targets={h: [np.full(length, IGNORE) for _ in range(n_windows)]
                       for h in TOKEN_HEADS},
        flex={h: np.ones(len(tags), bool) for h, tags in TOKEN_HEADS.items()},
        groups=groups,
    )  # fmt: skip


def test_group_logits_mean_over_segment_then_max_over_windows() -> None:
    doc = Group([(0, 0, 2), (1, 0, 2)], {})
    sentence = Group([(1, 1, 2)], {})
    batch = collate([feats(2, 2, [doc, sentence])], prefix=[2], suffix=[3], pad_id=0)
    seg = torch.zeros(2, 4, 1)  # rows: [CLS] t0 t1 [SEP]
    seg[0, 1:3, 0] = torch.tensor([1.0, 3.0])  # window 0 mean 2
    seg[1, 1:3, 0] = torch.tensor([0.0, 5.0])  # window 1 mean 2.5
    out = group_logits(seg, batch)
    assert out[:, 0].tolist() == pytest.approx([2.5, 5.0])


def test_budget_batches_respect_the_budget_and_keep_everything() -> None:
    items = [feats(1 + i % 3, 4 + i, []) for i in range(20)]
    batches = budget_batches(items, 64, np.random.default_rng(0))
    assert sorted(i for b in batches for i in b) == list(range(20))
    for b in batches:
        longest = max(len(items[i].windows[0]) for i in b) + 2
        n = sum(len(items[i].windows) for i in b)
        assert longest * n <= 64 or len(b) == 1
