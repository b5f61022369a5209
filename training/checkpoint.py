"""Saving and loading: the trained model folder, and the resumable training state.

A trained model folder is self-contained (weights, encoder config, tokenizer, labels,
resolved training config and its hash, dev metrics), so evaluation and export need
neither the original encoder weights nor the config file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, cast

import torch

from serving.engine import EngineSettings
from serving.schema import SCHEMA_VERSION, label_differences, label_lists
from serving.tokenizer import Tokenizer
from training.config import Config
from training.model import MultiTaskModel, encoder_from_config, load_weights

WEIGHTS = "weights.pt"


def _atomic_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def save_model(
    folder: Path, model: MultiTaskModel, tokenizer: Tokenizer, config: Config,
    extra: dict[str, Any],
) -> None:  # fmt: skip
    """Write the model folder; files are replaced atomically, weights last-but-one."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (WEIGHTS + ".tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, folder / WEIGHTS)
    _atomic_json(folder / "encoder_config.json", cast(Any, model.encoder).config.to_dict())
    tokenizer.save(folder / "tokenizer.json")
    _atomic_json(folder / "labels.json", {"schema_version": SCHEMA_VERSION, **label_lists()})
    _atomic_json(
        folder / "training.json",
        {"config": config.model_dump(mode="json"), "config_sha256": config.digest(), **extra},
    )


def read_weights(folder: Path) -> dict[str, torch.Tensor]:
    """A trained model folder's state dict."""
    if not (folder / WEIGHTS).is_file():
        raise FileNotFoundError(f"{folder} is not a trained model folder (no {WEIGHTS})")
    state: dict[str, torch.Tensor] = torch.load(
        folder / WEIGHTS, map_location="cpu", weights_only=True
    )
    return state


def load_model(
    folder: Path | str,
) -> tuple[MultiTaskModel, Tokenizer, EngineSettings, dict[str, Any]]:
    """A trained model folder -> model (eval mode), tokenizer, window settings, metadata."""
    from transformers import AutoConfig

    folder = Path(folder)
    labels = json.loads((folder / "labels.json").read_text(encoding="utf-8"))
    diff = label_differences(labels)
    if diff:
        raise ValueError(
            f"{folder} was trained with other labels than this code's schema (differs in: "
            f"{', '.join(diff)}); retrain it, or use the code version it was trained with"
        )
    state = read_weights(folder)
    meta = json.loads((folder / "training.json").read_text(encoding="utf-8"))
    config = Config.model_validate(meta["config"])
    enc_config = json.loads((folder / "encoder_config.json").read_text(encoding="utf-8"))
    model_type = enc_config.pop("model_type", "bert")
    encoder = encoder_from_config(AutoConfig.for_model(model_type, **enc_config))
    model = MultiTaskModel(encoder, cast(Any, encoder).config.hidden_size, config.model.dropout)
    load_weights(model, state)
    model.eval()
    settings = config.windows.engine_settings()
    return model, Tokenizer.from_file(folder / "tokenizer.json"), settings, meta


def update_meta(folder: Path, changes: dict[str, Any]) -> None:
    """Add or replace keys of a model folder's training.json."""
    path = folder / "training.json"
    _atomic_json(path, json.loads(path.read_text(encoding="utf-8")) | changes)


def save_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_state(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    return state
