from pathlib import Path

import pytest

from training.config import load_config, parse_overrides

YAML = """
data:
  train:
    re3d: {weight: 2}
    satp: {}
  dev: [re3d, satp]
training:
  lr: 1.0e-4
"""


def write(tmp_path: Path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(YAML, encoding="utf-8")
    return path


def test_overrides_set_nested_keys_with_yaml_values(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path), ["--training.lr", "3e-5", "--data.train.re3d.weight=4"])
    assert cfg.training.lr == 3e-5
    assert cfg.data.train["re3d"].weight == 4 and "satp" in cfg.data.train


def test_a_mapping_override_replaces_rather_than_merges(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path), ["--data.train", "{satp: {}}", "--data.dev", "[satp]"])
    assert list(cfg.data.train) == ["satp"] and cfg.data.dev == ["satp"]


def test_unknown_keys_and_malformed_overrides_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"training\.lrr"):
        load_config(write(tmp_path), ["--training.lrr", "1"])
    with pytest.raises(ValueError, match=r"--training\.lr"):
        parse_overrides(["--training.lr"])
    with pytest.raises(ValueError, match=r"section\.key"):
        parse_overrides(["lr", "1"])


def test_the_digest_follows_the_resolved_config(tmp_path: Path) -> None:
    a = load_config(write(tmp_path))
    b = load_config(write(tmp_path), ["--training.seed", "124"])
    assert a.digest() != b.digest() and a.digest() == load_config(write(tmp_path)).digest()


def test_an_option_added_at_its_default_keeps_older_runs_digests(tmp_path: Path) -> None:
    # Pinned: a checkpoint resumes only under its config's digest, so an option added
    # later must leave the digest alone at its default (Config.digest drops such keys).
    cfg = load_config(write(tmp_path))
    assert cfg.digest() == "2be5acc963b7299074ed4457fd0c5a0c6e38b8f21671e3f6ccd24de7c1b14ecc"
    # Runs made while the digest counted freeze_encoder: false
    assert cfg.digest(counting_unfrozen=True).startswith("ee766a4707244eae")
    frozen = load_config(write(tmp_path), ["--training.freeze_encoder", "true"])
    assert frozen.digest() == frozen.digest(counting_unfrozen=True) != cfg.digest()


def test_the_corrections_collection_needs_its_folder(tmp_path: Path) -> None:
    from training.config import Config

    raw = {"data": {"train": {"satp": {}, "corrections": {}}, "dev": ["corrections"]}}
    with pytest.raises(ValueError, match=r"data\.corrections gives no folder"):
        Config.model_validate(raw)
    raw["data"]["corrections"] = str(tmp_path)
    assert Config.model_validate(raw).data.corrections == str(tmp_path)


def test_a_file_filter_pins_a_collection_to_its_earlier_files() -> None:
    from training.config import Config
    from training.train import load_records

    def loaded(files: list[str] | None) -> dict[str, dict[str, list[object]]]:
        raw = {"data": {"train": {"written_penta": {"files": files}}, "dev": ["written_penta"]}}
        return load_records(Config.model_validate(raw))  # type: ignore[return-value]

    pinned, every = loaded(["penta_[a-h].jsonl"]), loaded(None)
    # the first two rounds, as the eleventh release's specialist read them (data/README.md)
    assert len(pinned["train"]["written_penta"]) == 1098
    assert len(pinned["dev"]["written_penta"]) == 91
    assert len(every["dev"]["written_penta"]) == 229
    with pytest.raises(ValueError, match=r"no training records"):
        loaded(["nothing_*.jsonl"])
