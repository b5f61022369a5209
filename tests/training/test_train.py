from pathlib import Path
from typing import Any

import pytest
import torch

from serving.engine import Engine
from training import train as train_module
from training.backend import TorchBackend
from training.checkpoint import load_model
from training.config import Config
from training.evaluate import evaluate_all
from training.train import train

from .conftest import TINY_BERT

TRAIN = ["re3d", "muc4", "cameo_ner", "cameo_class", "satp", "insightcrime", "ipe"]


def tiny_config(tiny_data: Path, tiny_encoder: Path, **training: Any) -> Config:
    return Config.model_validate({
        "model": {"encoder": str(tiny_encoder), "random_init": TINY_BERT},
        "windows": {"size": 12, "stride": 8},
        "data": {"data_dir": str(tiny_data), "train": {n: {} for n in TRAIN},
                 "dev": ["muc4", "satp", "ipe"]},
        "training": {"epochs": 3, "batch_tokens": 256, "threads": 1, "lr": 1e-3,
                     "patience": 5, **training},
    })  # fmt: skip


def test_trains_saves_and_reloads(tiny_data: Path, tiny_encoder: Path, tmp_path: Path) -> None:
    config = tiny_config(tiny_data, tiny_encoder)
    result = train(config, tmp_path / "run", evaluate_all, progress=False, log=lambda _: None)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3 and result.epochs_run == 3
    model, tokenizer, settings, meta = load_model(result.model_dir)
    assert meta["config_sha256"] == config.digest()
    assert set(meta["dev"]) == {"muc4", "satp", "ipe"}
    # tuned on dev; the event head also on every collection that labels event types
    assert set(meta["thresholds"]) == {"events", "muc4_incident", "satp", "ipe"}
    engine = Engine(tokenizer, TorchBackend(model), settings)
    texts = ["Rebels fired a rocket at Camp Alpha on 3 May.", "the weather was calm. " * 9]
    together = engine.run(texts)
    alone = [engine.run([t])[0] for t in texts]
    for a, b in zip(together, alone, strict=True):
        assert a.entities == b.entities and a.roles == b.roles
        for head, probs in a.document.items():
            assert probs == pytest.approx(b.document[head], abs=1e-5)
    assert together[1].windows > 1  # the long text was windowed, not cut


def test_a_killed_run_resumes_to_the_same_weights(
    tiny_data: Path, tiny_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tiny_config(tiny_data, tiny_encoder, epochs=2)
    quiet = {"progress": False, "log": lambda _: None}
    train(config, tmp_path / "straight", evaluate_all, **quiet)

    monkeypatch.setattr(train_module, "CHECKPOINT_STEPS", 1)
    calls = {"n": 0}

    def dies_once(engine: Engine, records: dict[str, Any]) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt  # killed at the end of epoch 1, before it was logged
        return evaluate_all(engine, records)

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "killed", dies_once, **quiet)
    messages: list[str] = []
    train(config, tmp_path / "killed", dies_once, progress=False, log=messages.append)
    assert messages[0].startswith("resuming from epoch 1, batch ")
    a = torch.load(tmp_path / "straight" / "state.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "killed" / "state.pt", weights_only=False)["model"]
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key


def test_another_config_in_the_same_folder_is_refused(
    tiny_data: Path, tiny_encoder: Path, tmp_path: Path
) -> None:
    quiet = {"progress": False, "log": lambda _: None}
    train(tiny_config(tiny_data, tiny_encoder, epochs=1), tmp_path / "run", evaluate_all, **quiet)
    with pytest.raises(ValueError, match="another config"):
        train(
            tiny_config(tiny_data, tiny_encoder, epochs=2), tmp_path / "run", evaluate_all, **quiet
        )


def test_a_run_can_start_from_a_trained_model_and_learns_word_shapes(
    tiny_data: Path, tiny_encoder: Path, tmp_path: Path
) -> None:
    quiet = {"progress": False, "log": lambda _: None}
    first = train(tiny_config(tiny_data, tiny_encoder, epochs=1), tmp_path / "a", evaluate_all,
                  **quiet).model_dir  # fmt: skip
    start, _, _, _ = load_model(first)
    assert start.shape.weight.abs().sum() > 0  # learnt from its zero start
    config = tiny_config(tiny_data, tiny_encoder, epochs=1, max_steps=1, lr=1e-9, head_lr=1e-9)
    config.model.init_from = str(first)
    config.model.word_shapes = False
    second, _, _, _ = load_model(train(config, tmp_path / "b", evaluate_all, **quiet).model_dir)
    a, b = start.state_dict(), second.state_dict()
    for key in a:
        if key != "shape.weight":
            assert torch.allclose(a[key], b[key], atol=1e-5), key
    # word_shapes false: the embedding is not trained (here it keeps the loaded values).
    assert torch.equal(a["shape.weight"], b["shape.weight"])


def test_a_frozen_encoder_run_trains_the_heads_alone(
    tiny_data: Path, tiny_encoder: Path, tmp_path: Path
) -> None:
    quiet = {"progress": False, "log": lambda _: None}
    first = train(tiny_config(tiny_data, tiny_encoder, epochs=1), tmp_path / "a", evaluate_all,
                  **quiet).model_dir  # fmt: skip
    config = tiny_config(tiny_data, tiny_encoder, epochs=1, max_steps=3, freeze_encoder=True)
    config.model.init_from = str(first)
    second = train(config, tmp_path / "b", evaluate_all, **quiet).model_dir
    a, b = load_model(first)[0].state_dict(), load_model(second)[0].state_dict()
    for key in a:
        if key.startswith(("encoder.", "shape.")):
            assert torch.equal(a[key], b[key]), key
    assert not torch.allclose(a["segment.weight"], b["segment.weight"])


def test_weights_from_before_word_shapes_load_with_a_zero_shape_embedding(
    tiny_data: Path, tiny_encoder: Path, tmp_path: Path
) -> None:
    folder = train(tiny_config(tiny_data, tiny_encoder, epochs=1), tmp_path / "a", evaluate_all,
                   progress=False, log=lambda _: None).model_dir  # fmt: skip
    weights = torch.load(folder / "weights.pt", weights_only=True)
    del weights["shape.weight"]
    torch.save(weights, folder / "weights.pt")
    model, _, _, _ = load_model(folder)
    assert not model.shape.weight.any()
    weights.pop("segment.bias")
    torch.save(weights, folder / "weights.pt")
    with pytest.raises(ValueError, match=r"segment\.bias"):
        load_model(folder)
