"""Specialists: a single-dataset run's document probabilities mixed into its own
collection's gold targets, cached, and a loss that takes soft targets."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from training import specialist
from training.batching import collate
from training.config import Config, RehearsalConfig, SpecialistsConfig
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
    # rehearsal: the same model's document probabilities over every collection's records,
    # in the same cache (the ipe records are read already)
    config.rehearsal = RehearsalConfig(model=str(first), heads=["satp", "ipe"],
                                       cache=str(tmp_path / "c"))  # fmt: skip
    lines.clear()
    train(config, tmp_path / "r", evaluate_all, progress=False, log=lines.append)
    n_all = sum(len(v) for v in load_records(config)["train"].values())
    assert f"teacher: {n_ipe} of {n_all} training texts cached" in "\n".join(lines)
    assert len(list((tmp_path / "c").glob("teacher-*/part-*.npz"))) == 2
    logged = json.loads((tmp_path / "r" / "metrics.jsonl").read_text().splitlines()[0])
    assert {"satp_rehearsal", "ipe_rehearsal"} <= set(logged["loss"])
    raw = config.model_dump() | {"specialists": {"models": {"ipe_conflibert_sents": "x"}}}
    with pytest.raises(ValueError, match=r"specialists.models names \['ipe_conflibert_sents'\]"):
        Config.model_validate(raw)


def test_rehearse_teaches_document_groups_the_heads_they_have_no_gold_for() -> None:
    gold = {"ipe": (np.array([1.0, 0.0, 0.0]), np.ones(3, bool))}
    doc = Group([(0, 0, 2)], dict(gold), document=True)
    sent = Group([(0, 0, 1)], {})
    probs = {"ipe": np.array([[0.1, 0.2, 0.3]], np.float16),
             "satp": np.array([[0.9, 0.1, 0.0, 0.5]], np.float16)}  # fmt: skip
    feats = specialist.rehearse(_features([doc, sent]), probs, ["ipe", "satp"])
    # ipe has gold here and keeps it alone; satp is learnt from the probabilities
    assert set(feats.groups[0].rehearsed) == {"satp"}
    assert feats.groups[0].rehearsed["satp"] == pytest.approx([0.9, 0.1, 0.0, 0.5], abs=1e-3)
    assert feats.groups[0].targets == gold
    assert feats.groups[1].rehearsed == {}  # sentences: only their own labels


def test_rehearsal_is_a_loss_of_its_own_that_leaves_the_gold_loss_as_it_was() -> None:
    from serving.heads import SEGMENT_SLICES, SEGMENT_WIDTH

    segment = torch.zeros(2, 4, SEGMENT_WIDTH)  # two windows, one per record
    segment[:, :, SEGMENT_SLICES["satp"].start] = 1.0
    gold = Group([(0, 0, 2)], {"satp": (np.array([1.0, 0.0, 0.0, 0.0]), np.ones(4, bool))},
                 document=True)  # fmt: skip
    other = Group([(0, 0, 2)], {}, document=True)
    other.rehearsed = {"satp": np.array([0.5, 0.5, 0.0, 1.0], np.float32)}
    alone = collate([_features([gold])], prefix=[2], suffix=[3], pad_id=0)
    both = collate([_features([gold]), _features([other])], prefix=[2], suffix=[3], pad_id=0)
    _, parts_alone = multitask_loss({"segment_logits": segment[:1], **_no_tokens(alone)},
                                    alone, {}, rehearsal_weight=0.5)  # fmt: skip
    total, parts = multitask_loss({"segment_logits": segment, **_no_tokens(both)}, both,
                                  {}, rehearsal_weight=0.5)  # fmt: skip
    assert parts["satp"] == pytest.approx(parts_alone["satp"])  # not diluted
    logits = np.array([1.0, 0.0, 0.0, 0.0])
    q = np.array([0.5, 0.5, 0.0, 1.0])
    bce = np.mean(np.logaddexp(0, logits) - q * logits)
    assert parts["satp_rehearsal"] == pytest.approx(bce, abs=1e-5)
    assert float(total) == pytest.approx(parts["satp"] + 0.5 * bce, abs=1e-5)
    _, untaught = multitask_loss({"segment_logits": segment, **_no_tokens(both)}, both, {})
    assert "satp_rehearsal" not in untaught  # rehearsal weight 0: no term


def test_rehearsal_names_segment_heads_only() -> None:
    with pytest.raises(ValueError, match=r"\['entity'\] are not segment heads"):
        RehearsalConfig(model="m", heads=["satp", "entity"])
