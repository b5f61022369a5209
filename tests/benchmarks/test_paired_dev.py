import numpy as np
import pytest

from benchmarks.paired_dev import paired_bootstrap

# Two collections of per-record outcomes (1 = right); a figure is the share right.
OUTCOMES = {
    "base": {"a": np.array([1, 1, 0, 1, 0, 1, 1, 0]), "b": np.array([1, 0, 1, 1])},
    "same": {"a": np.array([1, 1, 0, 1, 0, 1, 1, 0]), "b": np.array([1, 0, 1, 1])},
    "better": {"a": np.array([1, 1, 1, 1, 1, 1, 1, 1]), "b": np.array([1, 1, 1, 1])},
}
SIZES = {"a": 8, "b": 4}


def score(model, draw):
    return {c: 100 * float(OUTCOMES[model][c][idx].mean()) for c, idx in draw.items()}


def test_a_model_against_itself_differs_by_nothing_on_every_draw():
    (d,) = paired_bootstrap(SIZES, score, "base", ["same"], replicates=50)
    assert (d.observed, d.sd, d.low, d.high) == (0.0, 0.0, 0.0, 0.0)
    assert d.per_collection_sd == {"a": 0.0, "b": 0.0}


def test_a_model_right_wherever_the_base_is_wins_on_every_draw():
    (d,) = paired_bootstrap(SIZES, score, "base", ["better"], replicates=200, seed=1)
    # observed: a 100 - 62.5, b 100 - 75, mean of the two gaps
    assert d.observed == pytest.approx((37.5 + 25.0) / 2)
    assert d.low > 0 and d.sd > 0
    assert d.low <= d.observed <= d.high


def test_the_draws_are_shared_and_seeded():
    first = paired_bootstrap(SIZES, score, "base", ["better", "same"], replicates=30, seed=7)
    again = paired_bootstrap(SIZES, score, "base", ["better", "same"], replicates=30, seed=7)
    assert first == again
    assert first[1].sd == 0.0  # "same" sees the base's own draw each time
