"""The baselines users would otherwise run: a Hugging Face `transformers` token
classification pipeline in PyTorch eager, one document per call.

`export_token_classifier` turns a trained model folder into an ordinary
`AutoModelForTokenClassification` folder holding the same encoder weights and the entity
head (labels: serving's entity BIO tags), with the encoder's tokenizer; `bert_base_pipeline`
builds a randomly initialised BERT-base-sized encoder (ConfliBERT's size) with the same head
size and tokenizer, for timing only. Both pipelines read long documents in overlapping
windows of our window size (`stride` = our overlap), as the engine does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import numpy as np

from serving.heads import TOKEN_HEADS

ENTITY_TAGS = TOKEN_HEADS["entity"]
# ConfliBERT's encoder size (BERT-base).
BERT_BASE = {
    "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
    "intermediate_size": 3072, "max_position_embeddings": 512,
}  # fmt: skip


def _labels() -> tuple[dict[int, str], dict[str, int]]:
    return dict(enumerate(ENTITY_TAGS)), {t: i for i, t in enumerate(ENTITY_TAGS)}


def _tokenizer(model_folder: Path, encoder: str, max_length: int) -> Any:
    """The encoder's own HF tokenizer where its folder has one (what a user would load),
    else the model folder's tokenizer.json (tests' word-level encoders hold only that)."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    from training.model import encoder_dir

    try:
        folder: Path | None = encoder_dir(encoder)
    except FileNotFoundError:
        folder = None
    if folder is not None and (folder / "tokenizer_config.json").is_file():
        tok = AutoTokenizer.from_pretrained(folder)
    else:
        tok = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
            tokenizer_file=str(model_folder / "tokenizer.json"), unk_token="[UNK]",
            cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]",
        )  # fmt: skip
    if not tok.is_fast:
        raise ValueError(f"{encoder}: the pipeline's stride needs a fast tokenizer")
    tok.model_max_length = max_length
    return tok


def hf_tokenizer(model_folder: Path | str) -> tuple[Any, int]:
    """The encoder's HF tokenizer, cut at our window (+ its special tokens), and the window
    overlap in tokens: the pipeline's `stride`. Reads only the folder's training.json."""
    from training.config import Config

    model_folder = Path(model_folder)
    meta = json.loads((model_folder / "training.json").read_text(encoding="utf-8"))
    config = Config.model_validate(meta["config"])
    specials = 2  # [CLS] ... [SEP]
    tok = _tokenizer(model_folder, config.model.encoder, config.windows.size + specials)
    return tok, config.windows.size - config.windows.stride


def export_token_classifier(model_folder: Path | str, out: Path | str) -> tuple[Path, int]:
    """Write an AutoModelForTokenClassification folder with the trained encoder and entity
    head, and the tokenizer; returns the folder and the pipeline's stride (our overlap)."""
    from transformers import AutoModelForTokenClassification

    from training.checkpoint import load_model

    model_folder, out = Path(model_folder), Path(out)
    model, _, _, _ = load_model(model_folder)
    encoder = cast(Any, model.encoder)
    enc_config = encoder.config
    id2label, label2id = _labels()
    enc_config.num_labels = len(ENTITY_TAGS)
    enc_config.id2label, enc_config.label2id = id2label, label2id
    hf = AutoModelForTokenClassification.from_config(enc_config)  # type: ignore[no-untyped-call]
    missing, unexpected = hf.base_model.load_state_dict(encoder.state_dict(), strict=False)
    if unexpected or any("pooler" not in k for k in missing):
        raise ValueError(f"encoder weights do not fit: missing {missing}, unexpected {unexpected}")
    hf.classifier.load_state_dict(model.token_heads["entity"].state_dict())
    hf.eval()
    hf.save_pretrained(out)
    tok, stride = hf_tokenizer(model_folder)
    tok.save_pretrained(out)
    return out, stride


def finetuned_pipeline(folder: Path | str, stride: int, threads: int) -> Any:
    """What most users would write: pipeline(...) from the saved folder."""
    import torch
    from transformers import pipeline

    torch.set_num_threads(threads)
    return pipeline(
        "token-classification", model=str(folder), tokenizer=str(folder), device=-1,
        aggregation_strategy="simple", stride=stride,
    )  # fmt: skip


def bert_base_pipeline(model_folder: Path | str, threads: int, seed: int = 0) -> Any:
    """A random-weight BERT-base-sized encoder with the entity head, same tokenizer and
    windows as the fine-tuned pipeline (timing only: its spans mean nothing)."""
    import torch
    from transformers import BertConfig, BertForTokenClassification, pipeline

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    tok, stride = hf_tokenizer(model_folder)
    id2label, label2id = _labels()
    sizes: dict[str, Any] = {"vocab_size": len(tok), **BERT_BASE}
    config = BertConfig(**sizes)
    config.num_labels = len(ENTITY_TAGS)
    config.id2label, config.label2id = id2label, label2id
    model: Any = BertForTokenClassification(config)
    model.eval()
    return pipeline(
        "token-classification", model=model, tokenizer=tok, device=-1,
        aggregation_strategy="simple", stride=stride,
    )  # fmt: skip


def pipeline_entity_logits(pipe: Any, text: str) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, entity logits) of the pipeline's first window of `text`, through its
    own preprocess and forward: for checking it runs the weights we trained."""
    inputs = next(iter(pipe.preprocess(text, **pipe._preprocess_params)))
    out = pipe.forward(inputs, **pipe._forward_params)
    return np.asarray(out["input_ids"][0]), np.asarray(out["logits"][0], dtype=np.float32)
