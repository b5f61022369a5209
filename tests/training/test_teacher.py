"""Teachers: soft targets read sentence by sentence, cached by fingerprint, and a loss
that fills only what the record's own labels leave open."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from serving.heads import TOKEN_HEADS
from training import teacher
from training.checkpoint import load_model
from training.config import TeacherConfig
from training.evaluate import evaluate_all
from training.features import IGNORE, O_FLEX, O_UNMARKED
from training.model import teacher_loss
from training.train import load_records, train

from .test_train import tiny_config

quiet = {"progress": False, "log": lambda _: None}


def test_teacher_loss_fills_only_open_tokens_and_keeps_to_the_allowed_tags() -> None:
    # 3 tags: O, B-X, I-X. Token 0 is gold B-X (no teacher), 1 is O_FLEX where only O is
    # allowed, 2 has no annotation, 3 is unmarked, 4 is padding (no teacher row).
    logits = torch.zeros(1, 5, 3)
    soft = torch.tensor([[[0.1, 0.8, 0.1], [0.5, 0.5, 0.0], [0.2, 0.6, 0.2],
                          [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]])  # fmt: skip
    targets = torch.tensor([[1, O_FLEX, IGNORE, O_UNMARKED, IGNORE]])
    flex = torch.tensor([[True, False, False]])
    loss = teacher_loss(logits, soft, targets, flex)
    # uniform logits: every kept token costs log 3; the O_FLEX token keeps O only, so its
    # target is one-hot O, also log 3. Three tokens count (1, 2, 3).
    assert loss is not None and float(loss) == pytest.approx(math.log(3))
    logits[0, 1] = torch.tensor([5.0, 0.0, 0.0])  # the O_FLEX token now says O: cheaper
    assert float(teacher_loss(logits, soft, targets, flex)) < math.log(3)  # type: ignore[arg-type]
    assert teacher_loss(logits, soft, torch.tensor([[1, 2, 1, 0, 0]]), flex) is None


def test_soft_targets_match_record_tokens_and_are_cached(
    tiny_data: Path, tiny_encoder: Path, tmp_path: Path
) -> None:
    first = train(tiny_config(tiny_data, tiny_encoder, epochs=1), tmp_path / "t", evaluate_all,
                  **quiet).model_dir  # fmt: skip
    model, tokenizer, settings, _ = load_model(first)
    from serving.engine import Engine
    from training.backend import TorchBackend

    config = tiny_config(tiny_data, tiny_encoder)
    records = [r for rs in load_records(config)["train"].values() for r in rs][:20]
    encodings = dict(
        zip([r.id for r in records], tokenizer.encode_batch([r.text for r in records]), strict=True)
    )
    calls = []
    read: list[int] = []

    class Counting(Engine):
        def token_logits(self, texts):  # type: ignore[no-untyped-def]
            read.append(len(texts))
            return super().token_logits(texts)

    def make_engine(path: Path) -> Engine:
        calls.append(path)
        return Counting(tokenizer, TorchBackend(model), settings)

    heads = ["entity", "event_role"]
    soft = teacher.soft_targets(first, records, encodings, heads, tmp_path / "c", make_engine)
    again = teacher.soft_targets(first, records, encodings, heads, tmp_path / "c", make_engine)
    assert len(calls) == 1 and len(list((tmp_path / "c").glob("teacher-*/part-*.npz"))) == 1
    for r in records:
        for h in heads:
            rows = soft[r.id][h].astype(np.float32)
            assert rows.shape == (len(encodings[r.id].ids), len(TOKEN_HEADS[h]))
            assert np.allclose(rows.sum(-1), 1.0, atol=1e-2)  # every token got a target
            assert np.array_equal(again[r.id][h], soft[r.id][h])
    # A one-sentence text gets what the engine gives it whole.
    one = next(r for r in records if len(teacher.split_sentences(r.text)) == 1)
    ((_, logits),) = Engine(tokenizer, TorchBackend(model), settings).token_logits([one.text])
    expected = teacher._softmax(logits["entity"])
    assert np.allclose(soft[one.id]["entity"].astype(np.float32), expected, atol=2e-3)
    # A changed text is read again, alone, into a second part; the others come cached.
    changed = [records[0].model_copy(update={"text": records[0].text + " More."}), *records[1:]]
    encodings[records[0].id] = tokenizer.encode_batch([changed[0].text])[0]
    sentences = len(teacher.split_sentences(changed[0].text))
    read.clear()
    redone = teacher.soft_targets(first, changed, encodings, heads, tmp_path / "c", make_engine)
    assert len(calls) == 2 and sum(read) == sentences
    assert len(list((tmp_path / "c").glob("teacher-*/part-*.npz"))) == 2
    assert redone[records[0].id]["entity"].shape[0] == len(encodings[records[0].id].ids)
    assert np.array_equal(redone[records[1].id]["entity"], soft[records[1].id]["entity"])
    # Scoring the teacher writes its score cache into the folder: still the same teacher.
    (first / "benchmark_scores.json").write_text("{}")
    read.clear()
    teacher.soft_targets(first, changed, encodings, heads, tmp_path / "c", make_engine)
    assert read == []
    # Other heads are another cache folder.
    teacher.soft_targets(first, records[:2], encodings, ["entity"], tmp_path / "c", make_engine)
    assert len(list((tmp_path / "c").glob("teacher-*"))) == 2
    with pytest.raises(ValueError, match=r"teacher\.heads"):
        teacher.soft_targets(first, records, encodings, ["events"], tmp_path / "c", make_engine)


def test_a_run_with_a_teacher_learns_from_its_targets(
    tiny_data: Path, tiny_encoder: Path, tmp_path: Path
) -> None:
    first = train(tiny_config(tiny_data, tiny_encoder, epochs=1), tmp_path / "t", evaluate_all,
                  **quiet).model_dir  # fmt: skip
    config = tiny_config(tiny_data, tiny_encoder, epochs=1)
    config.teacher = TeacherConfig(model=str(first), cache=str(tmp_path / "cache"))
    assert config.teacher.heads == list(TOKEN_HEADS)
    train(config, tmp_path / "s", evaluate_all, **quiet)
    losses = (tmp_path / "s" / "metrics.jsonl").read_text()
    # the tiny data's CAMEO, SATP and IPE records mark no entities: only a teacher fills them
    assert '"entity_teacher"' in losses and '"actor_role_teacher"' in losses
    assert len(list((tmp_path / "cache").glob("teacher-*/part-*.npz"))) == 1
