import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from serving.windows import make_windows, owner


@given(st.integers(0, 2000), st.integers(1, 300), st.data())
def test_windows_cover_every_token(n: int, size: int, data: st.DataObject) -> None:
    stride = data.draw(st.integers(1, size))
    windows = make_windows(n, size, stride)
    covered = np.zeros(n, dtype=bool)
    for w in windows:
        assert 0 <= w.start <= w.end <= n and w.end - w.start <= size
        covered[w.start : w.end] = True
    assert covered.all()
    own = owner(windows, n)
    for i, w_index in enumerate(own):
        assert windows[w_index].start <= i < windows[w_index].end


def test_owner_prefers_the_window_where_a_token_is_central() -> None:
    windows = make_windows(10, 6, 4)  # [0, 6) and [4, 10)
    assert [(w.start, w.end) for w in windows] == [(0, 6), (4, 10)]
    # Token 4 has one token of context on its right in the first window, none on its left
    # in the second; token 5 the other way round.
    assert owner(windows, 10).tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]


def test_short_and_empty_texts_get_one_window() -> None:
    assert [(w.start, w.end) for w in make_windows(3, 8, 4)] == [(0, 3)]
    assert [(w.start, w.end) for w in make_windows(0, 8, 4)] == [(0, 0)]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="0 < stride <= size"):
        make_windows(10, 4, 5)
