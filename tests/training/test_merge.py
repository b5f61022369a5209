"""Merging specialists: changes scaled and summed, each specialist's own segment rows
taken whole (or averaged with the rest, for a later stage); an artifact may be the base;
the CLI retunes thresholds."""

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from serving.heads import SEGMENT_SLICES, SEGMENT_WIDTH
from training.checkpoint import WEIGHTS, load_model
from training.cli import app
from training.merge import Specialist, base_weights, merged_weights
from training.model_card import trained_collections

from .test_cli_training import write_config

runner = CliRunner()


def _state(fill: float) -> dict[str, torch.Tensor]:
    return {
        "encoder.layer.weight": torch.full((2, 2), fill),
        "shape.weight": torch.full((3, 2), fill),
        "token_heads.entity.weight": torch.full((4, 2), fill),
        "segment.weight": torch.full((SEGMENT_WIDTH, 2), fill),
    }


def test_merged_weights_scale_encoder_changes_and_take_own_segment_rows() -> None:
    base, ipe, penta = _state(1.0), _state(3.0), _state(-1.0)
    out = merged_weights(base, [(ipe, ["ipe"]), (penta, ["cameo_penta"])], scale=0.5)
    # 1 + 0.5 * ((3 - 1) + (-1 - 1)) = 1: the two changes cancel
    assert torch.equal(out["encoder.layer.weight"], torch.full((2, 2), 1.0))
    assert torch.equal(out["token_heads.entity.weight"], base["token_heads.entity.weight"])
    segment = out["segment.weight"]
    assert torch.equal(segment[SEGMENT_SLICES["ipe"]], ipe["segment.weight"][SEGMENT_SLICES["ipe"]])
    assert float(segment[SEGMENT_SLICES["cameo_penta"]].max()) == -1.0
    assert float(segment[SEGMENT_SLICES["satp"]].max()) == 1.0  # nobody's head: the base's
    only_ipe = merged_weights(base, [(ipe, ["ipe"])], scale=0.25)
    assert torch.equal(only_ipe["shape.weight"], torch.full((3, 2), 1.5))
    assert torch.equal(only_ipe["token_heads.entity.weight"], torch.full((4, 2), 1.5))
    assert torch.equal(base["encoder.layer.weight"], torch.full((2, 2), 1.0))  # not modified
    with pytest.raises(ValueError, match="do not fit"):
        merged_weights(base, [({"other": torch.zeros(1)}, ["ipe"])], scale=1.0)


def test_average_segment_scales_the_segment_head_like_the_rest() -> None:
    base, stage = _state(1.0), _state(3.0)
    soup = merged_weights(base, [(stage, [])], scale=0.5, average_segment=True)
    for key in base:  # every weight, the segment head's too, halfway: (1 + 3) / 2
        assert torch.equal(soup[key], torch.full_like(base[key], 2.0)), key
    owned = merged_weights(base, [(stage, ["ipe"])], scale=0.5, average_segment=True)
    assert float(owned["segment.weight"][SEGMENT_SLICES["ipe"]].max()) == 3.0  # still taken whole
    assert float(owned["segment.weight"][SEGMENT_SLICES["satp"]].max()) == 2.0


def test_an_artifact_as_base_gives_back_its_graph_weights(tiny_artifact: Path) -> None:
    run = tiny_artifact.parent / "run" / "model"
    state = base_weights(tiny_artifact, like=run)
    trained = load_model(run)[0].state_dict()
    assert torch.allclose(state["segment.weight"], trained["segment.weight"], atol=1e-6)
    assert base_weights(run, like=run).keys() == trained.keys()


def test_specialist_parse_names_what_is_wrong() -> None:
    assert Specialist.parse("runs/x/model=ipe,satp") == Specialist(
        Path("runs/x/model"), ("ipe", "satp")
    )
    assert Specialist.parse("runs/x/model").heads == ()
    with pytest.raises(ValueError, match="FOLDER\\[=HEAD"):
        Specialist.parse("=ipe")
    with pytest.raises(ValueError, match="no segment head \\['entity'\\]"):
        Specialist.parse("runs/x/model=entity")


def test_merge_from_the_command_line(tmp_path: Path, tiny_data: Path, tiny_encoder: Path) -> None:
    config = write_config(tmp_path, tiny_data, tiny_encoder)
    base, spec = tmp_path / "base", tmp_path / "spec"
    result = runner.invoke(app, ["train", str(config), "--output", str(base), "--no-progress"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["train", str(config), "--output", str(spec), "--no-progress",
                                 "--model.init_from", str(base / "model"), "--training.lr",
                                 "0.01", "--data.train", "{satp: {}}"])  # fmt: skip
    assert result.exit_code == 0, result.output
    out = tmp_path / "merged" / "model"
    result = runner.invoke(app, ["merge", str(base / "model"), "--specialist",
                                 f"{spec / 'model'}=satp", "--output", str(out),
                                 "--scale", "0.5"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "thresholds:" in result.output

    def weights(folder: Path) -> dict[str, torch.Tensor]:
        state: dict[str, torch.Tensor] = torch.load(folder / WEIGHTS, weights_only=True)
        return state

    b, s, m = weights(base / "model"), weights(spec / "model"), weights(out)
    key = next(k for k in b if k.startswith("encoder.") and not torch.equal(b[k], s[k]))
    assert torch.allclose(m[key], b[key] + 0.5 * (s[key] - b[key]))
    entity = "token_heads.entity.weight"
    assert torch.allclose(m[entity], b[entity] + 0.5 * (s[entity] - b[entity]))
    rows = SEGMENT_SLICES["satp"]
    assert torch.equal(m["segment.weight"][rows], s["segment.weight"][rows])
    meta = json.loads((out / "training.json").read_text())
    assert meta["merged"]["scale"] == 0.5 and meta["merged"]["specialists"][0]["heads"] == ["satp"]
    assert meta["merged"]["specialists"][0]["trained_on"] == ["satp"]
    assert set(meta["dev_with_thresholds"]) == {"satp", "muc4"}
    assert meta["dev"] == meta["dev_with_thresholds"]  # its own figures, not the base's
    assert f"dev score (every dev record) {meta['dev_score']:.4f}" in result.output
    load_model(out)  # a model folder like any other

    again = tmp_path / "again" / "model"  # a merge onto a merged base keeps both records
    result = runner.invoke(app, ["merge", str(out), "--specialist", f"{spec / 'model'}=satp",
                                 "--output", str(again), "--scale", "0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    twice = json.loads((again / "training.json").read_text())["merged"]
    assert twice["base"] == str(out) and twice["scale"] == 0
    assert twice["base_merged"] == meta["merged"]

    from training.export import ExportOptions, export
    from training.release import release

    options = ExportOptions(min_agreement=0.0, int8=False)
    export(again, tmp_path / "artifact", options, texts=["Rebels fired."], log=lambda _: None)
    shipped = release(tmp_path / "artifact", [], "merged", tmp_path / "models", log=lambda _: None)
    card = (shipped / "README.md").read_text()
    assert f"- `{spec / 'model'}`: satp" in card
    assert f"`{base / 'model'}` then had specialists folded in" in card and "at scale 0.5" in card
    assert f"`{out}` then had specialists folded in" in card and "at scale 0.0)" in card
    assert "- Trained on: muc4, re3d, satp (config" in card  # the specialist's satp once
    assert "best dev epoch none (a merge)" in card  # no epoch of its own

    soup = tmp_path / "soup" / "model"  # --mean: the same specialist twice is itself
    result = runner.invoke(app, ["merge", str(base / "model"), "--specialist", str(spec / "model"),
                                 "--specialist", str(spec / "model"), "--output", str(soup),
                                 "--scale", "0.5", "--mean", "--average-segment"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert torch.allclose(weights(soup)[key], m[key])
    recorded = json.loads((soup / "training.json").read_text())["merged"]
    assert recorded["scale"] == 0.25 and recorded["mean"] is True

    wrong = f"{spec / 'model'}=entity"
    result = runner.invoke(app, ["merge", str(base / "model"), "--specialist", wrong,
                                 "--output", str(tmp_path / "x")])  # fmt: skip
    assert result.exit_code == 1 and "no segment head ['entity']" in result.output


def test_a_merged_model_learnt_from_its_specialists_collections_too() -> None:
    meta = {"config": {"data": {"train": {"satp": {}, "muc4": {}}}},
            "merged": {"specialists": [{"trained_on": ["satp", "written_penta"]}]}}  # fmt: skip
    assert trained_collections(meta) == ["satp", "muc4", "written_penta"]
    assert trained_collections({"config": meta["config"]}) == ["satp", "muc4"]
    twice = meta | {"merged": {"specialists": [{"trained_on": ["cameo_class"]}],
                               "base_merged": meta["merged"]}}  # fmt: skip
    assert trained_collections(twice) == ["satp", "muc4", "cameo_class", "written_penta"]


def test_an_artifact_base_keeps_its_dev_collections(tiny_artifact: Path, tmp_path: Path) -> None:
    """A head-only specialist selected on one collection must not narrow what the merged
    model's thresholds are tuned on: heads the base had tuned would fall back to 0.5."""
    import shutil

    from training.checkpoint import update_meta
    from training.merge import merge

    spec = tmp_path / "spec"
    shutil.copytree(tiny_artifact.parent / "run" / "model", spec)
    meta = json.loads((spec / "training.json").read_text())
    meta["config"]["data"]["dev"] = ["satp", "cameo_class"]
    update_meta(spec, {"config": meta["config"]})
    out = tmp_path / "merged"
    merge(tiny_artifact, [Specialist(spec, ("satp",))], 0.0, out)
    dev = json.loads((out / "training.json").read_text())["config"]["data"]["dev"]
    assert dev == ["muc4", "satp", "ipe", "cameo_class"]  # the base's, then the specialist's
