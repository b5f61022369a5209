import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from serving.artifact import ArtifactError, seal, sha256_file, shipped, verify
from serving.engine import Engine
from serving.onnx_backend import OnnxBackend
from serving.tagger import RuntimeSettings, Tagger
from training.benchmark_export import put_section, section_of
from training.cli import app
from training.evaluate import evaluate_all
from training.export import ExportError, ExportOptions, agreement, dev_curve, export, op_counts
from training.int8_check import dev_records, int8_verdict
from training.train import train

from .test_train import tiny_config

# A tiny random-weight model puts many labels near its thresholds, where rounding flips a
# few: the fp16-weights agreement bar is lower here than the default for trained models.
LOOSE = ExportOptions(min_agreement=0.9)
TEXTS = ["Rebels fired a rocket at Camp Alpha on 3 May.", "Police arrested 12 protesters. " * 8]


@pytest.fixture
def tiny_model(tiny_data: Path, tiny_encoder: Path, tmp_path: Path) -> Path:
    config = tiny_config(tiny_data, tiny_encoder, epochs=1)
    return train(
        config, tmp_path / "run", evaluate_all, progress=False, log=lambda _: None
    ).model_dir


def test_export_writes_a_verified_artifact_with_both_graphs(
    tiny_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "artifact"
    manifest = export(tiny_model, out, LOOSE, texts=TEXTS, log=lambda _: None)
    artifact = verify(out)
    assert 0 <= manifest["parity"]["int8_span_agreement"] <= 1  # recorded, not decisive
    accuracy = manifest["parity"]["int8_accuracy"]  # the model's own dev sets, from tiny_data
    assert set(accuracy["collections"]) == {"muc4", "satp", "ipe"}
    assert manifest["quantization"]["accepted"] is accuracy["accepted"]
    assert artifact.version == manifest["version"]
    assert manifest["parity"]["fp32_max_abs_diff"] <= 1e-3
    assert manifest["fusions"]["Attention"] == 2  # one fused attention per layer
    counts = op_counts(out / "model.int8.onnx")
    assert counts["MatMulInteger"] > 0 and counts.get("QAttention", 0) == 2
    assert "MatMulInteger" not in op_counts(out / "model.onnx")
    assert len(manifest["quantization"]["kept_fp32"]) == 4  # the heads
    assert "conflict-tagger model" in (out / "README.md").read_text()
    assert manifest["training"]["config_sha256"] == json.loads(
        (tiny_model / "training.json").read_text())["config_sha256"]  # fmt: skip
    # The graph takes any batch and length, and serving decodes from it.
    engine = Engine(artifact.tokenizer(), OnnxBackend(artifact.graph("fp32")), artifact.settings())
    results = engine.run(TEXTS)
    assert results[1].windows > 1


def test_parity_failure_writes_nothing(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "artifact"
    with pytest.raises(ExportError, match="differs from torch"):
        export(tiny_model, out, ExportOptions(tolerance=0.0), texts=TEXTS, log=lambda _: None)
    assert not out.exists() and not (tmp_path / "artifact.partial").exists()


def test_tampered_or_foreign_artifacts_are_refused(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "artifact"
    export(tiny_model, out, LOOSE, texts=TEXTS, log=lambda _: None)
    with pytest.raises(FileExistsError, match="never overwritten"):
        export(tiny_model, out, LOOSE, texts=TEXTS, log=lambda _: None)
    graph = out / "model.int8.onnx"
    graph.write_bytes(graph.read_bytes() + b"\0")
    with pytest.raises(ArtifactError, match=r"model\.int8\.onnx fails its checksum"):
        verify(out)
    graph.write_bytes(graph.read_bytes()[:-1])
    labels = json.loads((out / "labels.json").read_text())
    labels["entity_tags"] = labels["entity_tags"][:-1]
    (out / "labels.json").write_text(json.dumps(labels))
    with pytest.raises(ArtifactError, match=r"labels\.json fails its checksum"):
        verify(out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"]["labels.json"] = sha256_file(out / "labels.json")
    manifest.pop("integrity")
    (out / "manifest.json").write_text(json.dumps(seal(manifest)))
    with pytest.raises(ArtifactError, match="label schema in: entity_tags"):
        verify(out)  # consistent checksums, but labels the decoder would misread
    with pytest.raises(ArtifactError, match="not a model artifact"):
        verify(tmp_path)


@pytest.mark.parametrize(
    ("field", "edit"),
    [
        ("thresholds", lambda m: m["thresholds"].update({"events": 0.05})),
        ("windows", lambda m: m["windows"].update({"stride": 10})),
        (
            "quantization",
            lambda m: m["quantization"].update({"accepted": not m["quantization"]["accepted"]}),
        ),
        ("extra", lambda m: m.update({"extra": 1})),
    ],
)
def test_editing_any_manifest_field_fails_naming_it(
    tiny_model: Path, tmp_path: Path, field: str, edit: Any
) -> None:
    out = tmp_path / "artifact"
    export(tiny_model, out, LOOSE, texts=TEXTS, log=lambda _: None)
    manifest = json.loads((out / "manifest.json").read_text())
    edit(manifest)
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=rf"manifest field\(s\) {field} differ"):
        verify(out)


@pytest.mark.parametrize("name", ["../labels.json", "/etc/passwd", "sub/x.onnx", ".."])
def test_listed_files_stay_inside_the_artifact(tiny_model: Path, tmp_path: Path, name: str) -> None:
    out = tmp_path / "artifact"
    export(tiny_model, out, LOOSE, texts=TEXTS, log=lambda _: None)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest.pop("integrity")
    manifest["files"][name] = "0" * 64
    (out / "manifest.json").write_text(json.dumps(seal(manifest)))
    with pytest.raises(ArtifactError, match="outside the artifact folder"):
        verify(out)


def test_fp16_weights_without_int8_halve_the_graph_and_still_serve(
    tiny_model: Path, tmp_path: Path
) -> None:
    full, half = tmp_path / "full", tmp_path / "half"
    export(tiny_model, full, LOOSE, texts=TEXTS, log=lambda _: None)
    options = ExportOptions(min_agreement=0.9, int8=False, weights="fp16")
    manifest = export(tiny_model, half, options, texts=TEXTS, log=lambda _: None)
    assert manifest["graphs"] == {"fp32": "model.onnx"}
    assert not (half / "model.int8.onnx").exists()
    assert manifest["weights_storage"]["fp16_initializers"] > 0
    assert manifest["weights_storage"]["span_agreement"] >= 0.9
    assert (half / "model.onnx").stat().st_size < 0.75 * (full / "model.onnx").stat().st_size
    assert "weights stored as fp16" in (half / "README.md").read_text()
    tagger = Tagger.from_artifact(half)
    assert tagger.precision == "fp32"
    with pytest.raises(ArtifactError, match="without an int8 graph"):
        Tagger.from_artifact(half, RuntimeSettings(precision="int8"))
    # ONNX Runtime computes in fp32 from the upcast weights: logits within fp16 rounding.
    ids = np.array([[2, 5, 6, 7, 3]])
    mask = np.ones_like(ids)
    a = OnnxBackend(full / "model.onnx")(ids, mask)
    b = OnnxBackend(half / "model.onnx")(ids, mask)
    assert b["entity_logits"].dtype == np.float32
    assert np.abs(a["entity_logits"] - b["entity_logits"]).max() < 0.05


def test_int8_rule_needs_every_dev_collection_within_half_a_point() -> None:
    close = {"satp": {"fp32": 0.80, "int8": 0.796}, "muc4": {"fp32": 0.40, "int8": 0.404}}
    accepted, reason = int8_verdict(close, 0.005)
    assert accepted and "all 2 dev collections" in reason and "+0.40 on muc4" in reason
    assert int8_verdict({"satp": {"fp32": 0.5, "int8": 0.505}}, 0.005)[0]  # the edge is in
    far = close | {"ipe": {"fp32": 0.60, "int8": 0.59}, "re3d": {"fp32": 0.5, "int8": 0.51}}
    accepted, reason = int8_verdict(far, 0.005)  # better by more than the bar is drift too
    assert not accepted and reason.endswith("more than 0.5 points on ipe -1.00, re3d +1.00")
    assert int8_verdict({}, 0.005) == (
        False, "there were no dev records to compare int8 with fp32 on"
    )  # fmt: skip


def test_int8_is_judged_on_the_dev_records_given(
    tiny_model: Path, tiny_data: Path, tmp_path: Path
) -> None:
    meta = json.loads((tiny_model / "training.json").read_text())
    satp = dev_records(meta["config"])["satp"]
    assert satp  # tiny_data's dev split, read as training read it
    out = tmp_path / "artifact"
    # Any difference passes a bar of 100 points: the figures, not the bar, are under test.
    manifest = export(tiny_model, out, ExportOptions(max_f1_diff=1.0), texts=TEXTS,
                      log=lambda _: None, dev={"satp": satp})  # fmt: skip
    accuracy = manifest["parity"]["int8_accuracy"]
    assert list(accuracy["collections"]) == ["satp"]
    figures = accuracy["collections"]["satp"]
    assert 0 <= figures["fp32"] <= 1 and 0 <= figures["int8"] <= 1
    assert accuracy["accepted"] and manifest["quantization"]["accepted"]
    assert Tagger.from_artifact(out).precision == "int8"  # auto

    strict = export(tiny_model, tmp_path / "strict", texts=TEXTS, log=lambda _: None,
                    dev={"satp": satp})  # fmt: skip
    assert strict["parity"]["int8_accuracy"]["collections"] == accuracy["collections"]
    assert strict["quantization"]["accepted"] == int8_verdict(accuracy["collections"], 0.005)[0]

    empty = export(tiny_model, tmp_path / "empty", ExportOptions(max_f1_diff=1.0), texts=TEXTS,
                   log=lambda _: None, dev={"satp": []})  # fmt: skip
    assert empty["quantization"]["accepted"] is False
    assert "no dev records" in empty["parity"]["int8_accuracy"]["reason"]


def test_int8_without_dev_data_is_kept_but_never_served(
    tiny_model: Path, tiny_data: Path, tmp_path: Path
) -> None:
    shutil.rmtree(tiny_data)  # the model's config points at a folder that is gone
    out = tmp_path / "artifact"
    lines: list[str] = []
    manifest = export(tiny_model, out, ExportOptions(max_f1_diff=1.0), texts=TEXTS,
                      log=lines.append)  # fmt: skip
    assert manifest["quantization"]["accepted"] is False
    assert manifest["parity"]["int8_accepted"] is False
    reason = manifest["parity"]["int8_accuracy"]["reason"]
    assert reason.startswith("no dev data could be read") and "does not exist" in reason
    assert any(line.startswith("warning: int8 rejected: no dev data") for line in lines)
    assert (out / "model.int8.onnx").is_file()  # kept for inspection
    assert "is not served: serving runs fp32" in (out / "README.md").read_text()
    assert Tagger.from_artifact(out).precision == "fp32"  # auto
    with pytest.raises(ArtifactError, match=r"rejected the int8 graph .*: no dev data could"):
        Tagger.from_artifact(out, RuntimeSettings(precision="int8"))


def test_agreement_is_shared_over_all() -> None:
    assert agreement({1, 2, 3}, {2, 3, 4}) == 0.5
    assert agreement(set(), set()) == 1.0


def test_export_command(tiny_model: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["export", str(tiny_model), str(tmp_path / "a"), "--max-f1-diff", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "fused:" in result.output and "parity:" in result.output
    assert "int8 vs fp32, main dev figure" in result.output and "  satp: fp32 " in result.output
    assert "int8 accepted: its main dev figure is within 100 points" in result.output
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "never overwritten" in result.output
    result = runner.invoke(app, ["tag", "--model", str(tmp_path / "a"), "Rebels fired a rocket."])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["model"].endswith("(int8)")
    assert np.isfinite(
        json.loads((tmp_path / "a" / "manifest.json").read_text())["parity"]["fp32_max_abs_diff"]
    )


def test_benchmark_export_fills_its_section_once(
    tiny_model: Path, tiny_data: Path, tmp_path: Path
) -> None:
    artifact = tmp_path / "a"
    export(tiny_model, artifact, LOOSE, texts=TEXTS, log=lambda _: None)
    report = tmp_path / "accuracy.md"
    report.write_text("# Accuracy\n\nthe main table\n")
    args = ["benchmark-export", str(artifact), "--model", str(tiny_model), "--out", str(report),
            "--data-dir", str(tiny_data)]  # fmt: skip
    for _ in range(2):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    text = report.read_text()
    assert text.startswith("# Accuracy\n\nthe main table\n")
    assert text.count("<!-- export:start -->") == 1
    assert "| satp | example-based F1 |" in text


def test_sections_survive_a_rewrite_of_the_rest() -> None:
    section = "<!-- export:start -->\nfigures\n<!-- export:end -->\n"
    old = "# Accuracy\n\nold table\n\n" + section
    assert section_of(old) == section
    assert (
        put_section("# Accuracy\n\nnew table\n", section) == "# Accuracy\n\nnew table\n\n" + section
    )
    assert section_of("no section") is None


def test_release_replaces_the_shipped_model_and_keeps_the_changelog(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training import release as rel

    models = tmp_path / "models"
    options = ExportOptions(min_agreement=0.9, int8=False, weights="fp16")
    first = export(tiny_model, tmp_path / "a1", options, texts=TEXTS, log=lambda _: None)
    scores = {"test": {"satp": {"example_f1": 0.5}}}
    figures = rel.test_table(tiny_model, scores)
    assert [(r["task"], r["value"]) for r in figures] == [("SATP", "50.0")]
    with pytest.raises(rel.ReleaseError, match="changelog"):
        rel.release(tmp_path / "a1", figures, " ", models, log=lambda _: None)
    one = rel.release(tmp_path / "a1", figures, "first", models, log=lambda _: None)
    assert shipped(models) == one and one.name == f"conflict-tagger-{first['version']}"
    card = (one / "README.md").read_text()
    assert "| SATP | test | example-based F1 | 50.0 | 89.4 |" in card
    assert f"- {first['version']} (" in card and "): first" in card

    second = export(tiny_model, tmp_path / "a2", options, texts=TEXTS, log=lambda _: None)
    manifest = json.loads((tmp_path / "a2" / "manifest.json").read_text())
    manifest["version"] = second["version"] + "-b"
    (tmp_path / "a2" / "manifest.json").write_text(json.dumps(seal(manifest)))
    two = rel.release(tmp_path / "a2", figures, "second", models, log=lambda _: None)
    assert [p.name for p in models.iterdir()] == [two.name]  # one release at a time
    changes = verify(two).manifest["release"]["changelog"]
    assert [c["change"] for c in changes] == ["second", "first"]

    # A rejected int8 graph is never served: the release leaves it out, keeps the verdict.
    judged = ExportOptions(min_agreement=0.9, weights="fp16")
    export(tiny_model, tmp_path / "a3", judged, texts=TEXTS, log=lambda _: None, dev={})
    assert not verify(tmp_path / "a3").int8_accepted
    three = rel.release(tmp_path / "a3", figures, "third", models, log=lambda _: None)
    assert not (three / "model.int8.onnx").exists()
    assert (
        verify(three).precision("auto") == "fp32" and "int8" not in verify(three).manifest["graphs"]
    )
    assert (
        "No int8 graph shipped: int8 was rejected at export (there were no dev"
        in (three / "README.md").read_text()
    )
    two = three

    monkeypatch.setattr(rel, "MAX_FILE_BYTES", 1000)
    with pytest.raises(rel.ReleaseError, match="too large for the repository"):
        rel.release(tmp_path / "a2", figures, "third", models, log=lambda _: None)
    assert [p.name for p in models.iterdir()] == [two.name]


def test_word_shapes_reach_the_exported_graph(tiny_model: Path, tmp_path: Path) -> None:
    import torch

    weights = torch.load(tiny_model / "weights.pt", weights_only=True)
    weights["shape.weight"] = torch.randn_like(weights["shape.weight"])  # a strong signal
    torch.save(weights, tiny_model / "weights.pt")
    out = tmp_path / "artifact"
    manifest = export(tiny_model, out, LOOSE, texts=TEXTS, log=lambda _: None)
    assert manifest["parity"]["fp32_max_abs_diff"] <= 1e-3  # torch and ONNX, shapes fed
    graph = OnnxBackend(verify(out).graph("fp32"))
    assert graph.cased
    ids = np.array([[2, 5, 6, 3]])
    mask = np.ones_like(ids)
    plain = graph(ids, mask)["entity_logits"]
    cased = graph(ids, mask, np.array([[0, 2, 3, 0]]))["entity_logits"]
    assert not np.allclose(plain, cased, atol=1e-3)


def test_the_dev_curve_reaches_back_through_runs_and_artifacts(tmp_path: Path) -> None:
    # A third stage that started from a shipped artifact, which started from two runs.
    artifact = tmp_path / "release"
    artifact.mkdir()
    earlier = [{"run": "release", "epoch": 1, "dev_score": 0.5},
               {"run": "release2", "epoch": 1, "dev_score": 0.6}]  # fmt: skip
    (artifact / "manifest.json").write_text(json.dumps({"training": {"curve": earlier}}))
    model = tmp_path / "stage3" / "model"
    model.mkdir(parents=True)
    config = {"model": {"init_from": str(artifact)}}
    (model / "training.json").write_text(json.dumps({"config": config}))
    (model.parent / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "dev_score": 0.65}) + "\n")
    assert dev_curve(model) == [*earlier, {"run": "stage3", "epoch": 1, "dev_score": 0.65}]
    # A merged model (no run log of its own) continues its base's curve, not the curve of
    # the run its base started from.
    merged = tmp_path / "release5" / "model"
    merged.mkdir(parents=True)
    meta = {"config": config, "merged": {"base": str(model), "scale": 0.5, "specialists": []}}
    (merged / "training.json").write_text(json.dumps(meta))
    assert dev_curve(merged) == dev_curve(model)
    # The average of a base with a stage trained from it shows the stage's epochs after
    # the base's curve.
    stage = tmp_path / "release6" / "model"
    stage.mkdir(parents=True)
    (stage.parent / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "dev_score": 0.7}) + "\n")
    soup = {"base": str(model), "scale": 0.5, "average_segment": True,
            "specialists": [{"model": str(stage), "heads": []}]}  # fmt: skip
    (merged / "training.json").write_text(json.dumps({"config": config, "merged": soup}))
    assert dev_curve(merged) == [
        *dev_curve(model),
        {"run": "release6", "epoch": 1, "dev_score": 0.7},
    ]
