"""Word shapes: the casing signal beside the uncased encoder's tokens."""

from pathlib import Path

import numpy as np
import pytest

from serving.artifact import shipped
from serving.engine import Engine, EngineSettings
from serving.shapes import SHAPES, shape
from serving.tokenizer import Tokenizer
from tests.test_engine import WordBackend


@pytest.mark.parametrize(
    ("piece", "name"),
    [("hezbollah", "lower"), ("Hezbollah", "capital"), ("US", "upper"), ("A", "capital"),
     ("iPhone", "mixed"), ("بغداد", "uncased"), ("16", "digit"), ("-", "other"),
     ("", "none")],
)  # fmt: skip
def test_shape(piece: str, name: str) -> None:
    assert SHAPES[shape(piece)] == name


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer.from_file(Path(shipped()) / "tokenizer.json")


def test_tokens_get_the_shape_of_their_own_characters(tokenizer: Tokenizer) -> None:
    text = "US troops left Al-Asad; us too."
    (enc,) = tokenizer.encode_batch([text])
    assert enc.shapes is not None
    pairs = zip(enc.offsets.tolist(), enc.shapes, strict=True)
    got = {text[a:b]: SHAPES[s] for (a, b), s in pairs}
    assert got == {"US": "upper", "troops": "lower", "left": "lower", "Al": "capital",
                   "-": "other", "Asa": "capital", "d": "lower", ";": "other", "us": "lower",
                   "too": "lower", ".": "other"}  # fmt: skip


class Recording(WordBackend):
    def __init__(self, tok: Tokenizer) -> None:
        super().__init__(tok)
        self.shapes: list[np.ndarray] = []

    def __call__(
        self, input_ids: np.ndarray, attention_mask: np.ndarray,
        shape_ids: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:  # fmt: skip
        assert shape_ids is not None and shape_ids.shape == input_ids.shape
        self.shapes.append(shape_ids)
        return super().__call__(input_ids, attention_mask, shape_ids)


def test_the_engine_feeds_shapes_with_none_on_special_tokens_and_padding(
    tokenizer: Tokenizer,
) -> None:
    backend = Recording(tokenizer)
    Engine(tokenizer, backend, EngineSettings()).run(["Rebels hit Kabul.", "NATO"])
    (shapes,) = backend.shapes
    upper, capital, lower = (SHAPES.index(n) for n in ("upper", "capital", "lower"))
    # Sorted by length: "NATO" ([CLS] NATO [SEP], then padding) first.
    assert shapes[0].tolist()[:3] == [0, upper, 0] and not shapes[0][3:].any()
    assert shapes[1].tolist() == [0, capital, lower, capital, SHAPES.index("other"), 0]
