"""Starting a run from a released artifact: the graph gives back the weights it was
exported from, and weights that do not reproduce the graph are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.training.conftest import TINY_BERT
from training import artifact_weights
from training.artifact_weights import load_from_artifact, load_start
from training.checkpoint import load_model
from training.model import MultiTaskModel


def _fresh() -> MultiTaskModel:
    torch.manual_seed(7)  # other random weights than the exported model's
    return MultiTaskModel.build("unused", 0.1, TINY_BERT)


def test_the_graph_gives_back_the_weights_it_was_exported_from(tiny_artifact: Path) -> None:
    trained = load_model(tiny_artifact.parent / "run" / "model")[0].state_dict()
    model = _fresh()
    assert not torch.allclose(model.state_dict()["segment.weight"], trained["segment.weight"])
    load_start(model, tiny_artifact)
    got = model.state_dict()
    assert set(got) >= set(trained) - {"encoder.embeddings.position_ids"}
    for name, value in trained.items():
        if name in got:
            assert torch.allclose(got[name], value, atol=1e-6), name


def test_weights_that_do_not_reproduce_the_graph_are_refused(
    tiny_artifact: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = artifact_weights.state_from_graph

    def off_by_one(path: Path) -> dict[str, torch.Tensor]:
        state = read(path)
        state["segment.bias"] = state["segment.bias"] + 1.0
        return state

    monkeypatch.setattr(artifact_weights, "state_from_graph", off_by_one)
    with pytest.raises(ValueError, match="do not reproduce its graph"):
        load_from_artifact(_fresh(), tiny_artifact)
