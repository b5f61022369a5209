"""A tiny random-weight encoder folder (word-level tokenizer, 2-layer BERT) for tests."""

import re
from pathlib import Path

import pytest
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
TINY_BERT = {
    "vocab_size": 99, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
    "intermediate_size": 37, "max_position_embeddings": 512,
}  # fmt: skip


def tiny_tokenizer(texts: list[str], vocab_size: int = 99) -> Tokenizer:
    words: dict[str, int] = {}
    for t in texts:
        for w in re.findall(r"\w+|[^\w\s]", t.lower()):
            words[w] = words.get(w, 0) + 1
    ranked = sorted(words, key=lambda w: (-words[w], w))[: vocab_size - len(SPECIALS)]
    vocab = {tok: i for i, tok in enumerate([*SPECIALS, *ranked])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    # As BERT's: control and format characters (NUL, U+200B, U+FEFF) are dropped.
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=True
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return tok


@pytest.fixture
def tiny_encoder(tmp_path: Path, tiny_data: Path) -> Path:
    """A folder holding only tokenizer.json, for `model.random_init` configs."""
    texts = [p.read_text(encoding="utf-8") for p in tiny_data.rglob("*") if p.is_file()]
    folder = tmp_path / "tiny-encoder"
    folder.mkdir()
    tiny_tokenizer(texts).save(str(folder / "tokenizer.json"))
    return folder
