"""Specialists: a single-dataset run's document probabilities mixed into its own
collection's gold targets, cached, and a loss that takes soft targets."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from training import specialist
from training.batching import collate
from training.config import Config, SpecialistsConfig
from training.evaluate import evaluate_all
from training.features import IGNORE, Features, Group
from training.model import multitask_loss
from training.train import load_records, train

from .test_train import tiny_config

quiet = {"progress": False, "log": lambda _: None}


def _features(groups: list[Group]) -> Features:
    from serving.heads import TOKEN_HEADS

    none = {h: [np.full(2, IGNORE)] for h in TOKEN_HEADS}
    flex = {h: np.ones(len(t), bool) for h, t in TOKEN_HEADS.items()}
    return Features("r", "ipe", [np.array([5, 6])], [np.zeros(2, int)], none, flex, groups)


def test_mix_moves_document_targets_on_annotated_labels_only() -> None:
    doc = Group([(0, 0, 2)], {"ipe": (np.array([1.0, 0.0, 0.0]), np.array([True, True, False]))},
                document=True)  # fmt: skip
    sent = Group([(0, 0, 1)], {"ipe": (np.array([1.0, 0.0, 0.0]), np.array([True] * 3))})
    probs = {"ipe": np.array([[0.6, 0.4, 0.9]], np.float16)}
    feats = specialist.mix(_features([doc, sent]), probs, 0.5)
    values, mask = feats.groups[0].targets["ipe"]
    # 0.5 * gold + 0.5 * specialist where annotated; the unannotated label stays as it was
    assert values == pytest.approx([0.8, 0.2, 0.0], abs=1e-3) and mask.tolist() == [1, 1, 0]
    assert feats.groups[1].targets["ipe"][0].tolist() == [1.0, 0.0, 0.0]  # sentences: gold
    gold = Group([(0, 0, 2)], {"ipe": (np.array([1.0, 0.0]), np.ones(2, bool))}, document=True)
    untaught = specialist.mix(_features([gold]), None, 0.5)  # no specialist for this record
    assert untaught.groups[0].targets["ipe"][0].tolist() == [1.0, 0.0]


def test_single_label_loss_takes_soft_targets() -> None:
    from serving.heads import HEAD_BY_NAME, SEGMENT_SLICES, SEGMENT_WIDTH

    k = len(HEAD_BY_NAME["cameo_penta"].labels)
    one_hot = np.eye(k, dtype=np.float32)[0]
    soft = np.full(k, 1 / k, dtype=np.float32)
    segment = torch.zeros(1, 4, SEGMENT_WIDTH)  # [CLS] 5 6 [SEP]
    segment[0, :, SEGMENT_SLICES["cameo_penta"].start] = 2.0  # says label 0
    losses = []
    for target in (one_hot, soft):
        group = Group([(0, 0, 2)], {"cameo_penta": (target, np.ones(k, bool))}, document=True)
        batch = collate([_features([group])], prefix=[2], suffix=[3], pad_id=0)
        _, parts = multitask_loss({"segment_logits": segment, **_no_tokens(batch)}, batch, {})
        losses.append(parts["cameo_penta"])
    p0 = math.exp(2) / (math.exp(2) + k - 1)
    assert losses[0] == pytest.approx(-math.log(p0), abs=1e-4)  # plain cross-entropy
    assert losses[1] > losses[0]  # a flat target disagrees with the confident logits


def _no_tokens(batch) -> dict[str, torch.Tensor]:  # type: ignore[no-untyped-def]
    from serving.heads import TOKEN_HEADS

    w, n = batch.input_ids.shape
    return {f"{h}_logits": torch.zeros(w, n, len(t)) for h, t in TOKEN_HEADS.items()}


def test_a_run_with_a_specialist_reads_its_collection_once(
    tiny_data: Path, tiny_encoder: Path, tmp_path: Path
) -> None:
    first = train(tiny_config(tiny_data, tiny_encoder, epochs=1), tmp_path / "t", evaluate_all,
                  **quiet).model_dir  # fmt: skip
    config = tiny_config(tiny_data, tiny_encoder, epochs=1)
    config.specialists = SpecialistsConfig(models={"ipe": str(first)}, cache=str(tmp_path / "c"))
    lines: list[str] = []
    train(config, tmp_path / "s", evaluate_all, progress=False, log=lines.append)
    n_ipe = len(load_records(config)["train"]["ipe"])
    assert f"teacher: 0 of {n_ipe} training texts cached" in "\n".join(lines)
    assert len(list((tmp_path / "c").glob("teacher-*/part-*.npz"))) == 1
    lines.clear()
    train(config, tmp_path / "s2", evaluate_all, progress=False, log=lines.append)
    assert f"teacher: {n_ipe} of {n_ipe} training texts cached" in "\n".join(lines)
    raw = config.model_dump() | {"specialists": {"models": {"ipe_conflibert_sents": "x"}}}
    with pytest.raises(ValueError, match=r"specialists.models names \['ipe_conflibert_sents'\]"):
        Config.model_validate(raw)
