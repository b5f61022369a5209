import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from training.cli import app

from .conftest import TINY_BERT

runner = CliRunner()


def write_config(tmp_path: Path, tiny_data: Path, tiny_encoder: Path) -> Path:
    config = {
        "model": {"encoder": str(tiny_encoder), "random_init": TINY_BERT},
        "windows": {"size": 12, "stride": 8},
        "data": {"data_dir": str(tiny_data), "train": {"re3d": {}, "satp": {}, "muc4": {}},
                 "dev": ["satp", "muc4"]},
        "training": {"epochs": 1, "batch_tokens": 256, "threads": 1},
    }  # fmt: skip
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_train_tag_and_evaluate_from_the_command_line(
    tmp_path: Path, tiny_data: Path, tiny_encoder: Path
) -> None:
    config = write_config(tmp_path, tiny_data, tiny_encoder)
    run = tmp_path / "run"
    args = ["train", str(config), "--output", str(run), "--no-progress", "--training.epochs", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "best dev score" in result.output
    assert json.loads((run / "config.json").read_text())["training"]["epochs"] == 2
    assert json.loads((run / "finished.json").read_text())["epochs_run"] == 2

    result = runner.invoke(app, ["tag", "--model", str(run / "model"), "Rebels fired a rocket."])
    assert result.exit_code == 0, result.output
    tagged = json.loads(result.output)
    assert set(tagged) >= {"entities", "roles", "event_types", "coarse_types", "windows"}

    out = tmp_path / "scores.json"
    result = runner.invoke(app, ["evaluate", str(run / "model"), "--dataset", "satp",
                                 "--split", "test", "--data-dir", str(tiny_data),
                                 "--json", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert 0.0 <= json.loads(out.read_text())["satp"]["main"] <= 1.0

    meta_path = run / "model" / "training.json"
    trained_with = json.loads(meta_path.read_text())["thresholds"]
    result = runner.invoke(app, ["thresholds", str(run / "model")])
    assert result.exit_code == 0, result.output
    meta = json.loads(meta_path.read_text())
    assert meta["thresholds"] == trained_with  # same weights, same dev records
    assert set(meta["dev_with_thresholds"]) == set(meta["dev"])


def test_bad_configs_name_the_key(tmp_path: Path, tiny_data: Path, tiny_encoder: Path) -> None:
    config = write_config(tmp_path, tiny_data, tiny_encoder)
    result = runner.invoke(app, ["train", str(config), "--training.learning_rate", "1"])
    assert result.exit_code == 1
    assert "training.learning_rate: Extra inputs are not permitted" in result.output
    result = runner.invoke(app, ["train", str(config), "--windows.stride", "99"])
    assert result.exit_code == 1 and "must not exceed size" in result.output
    result = runner.invoke(app, ["tag", "--model", str(tmp_path / "none"), "text"])
    assert result.exit_code == 1 and "is not a model artifact" in result.output
