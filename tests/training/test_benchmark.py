import json
import shutil
from pathlib import Path

import pytest

from training import benchmark
from training.benchmark import ROWS, Row, cell, leaking, render, run_benchmark

SATP = next(r for r in ROWS if r.collection == "satp")
RE3D = next(r for r in ROWS if r.collection == "re3d_conflibert")


def scores(value: float) -> dict[str, dict[str, dict[str, float]]]:
    return {"test": {"satp": {"example_f1": value}, "re3d_conflibert": {"micro_f1": value}}}


def test_seeds_give_mean_and_sample_sd() -> None:
    seeds = [(["satp"], scores(v)) for v in (0.80, 0.82, 0.84)]
    assert cell(SATP, seeds) == "82.0 ± 2.0"
    assert cell(SATP, seeds[:1]) == "80.0"


def test_each_row_reads_only_models_trained_on_its_collection() -> None:
    singles = [(["satp"], scores(0.9)), (["re3d_conflibert"], scores(0.5))]
    assert cell(SATP, singles) == "90.0" and cell(RE3D, singles) == "50.0"
    assert cell(Row("x", "muc4", "test", "main", "F1", ""), singles) == "-"


def test_shared_text_is_a_leak_not_a_figure() -> None:
    assert leaking(["re3d"]) == {"re3d_conflibert"}
    assert cell(RE3D, [(["re3d"], scores(0.99))]) == "leak"
    # In a column of single-dataset models, the one trained on the row's data is scored.
    singles = [(["re3d"], scores(0.99)), (["re3d_conflibert"], scores(0.5))]
    assert cell(RE3D, singles) == "50.0"


def test_render_names_every_model_and_the_reference(tmp_path: Path) -> None:
    columns = {}
    for seed in (123, 124):
        folder = tmp_path / str(seed)
        folder.mkdir()
        (folder / "weights.pt").write_bytes(b"w")
        meta = {"config": {"data": {"train": {"satp": {}}}, "training": {"seed": seed}},
                "config_sha256": "c" * 64, "epoch": 2}  # fmt: skip
        (folder / "training.json").write_text(json.dumps(meta))
        columns.setdefault("full", []).append((folder, scores(0.8 + (seed - 123) / 100)))
    text = render(columns, "conflict-tagger benchmark-accuracy", 1.0)
    assert "seed 123" in text and "seed 124" in text
    assert "| SATP | test | example-based F1 | 80.5 ± 0.7 | 89.4 |" in text


def test_an_artifact_scores_as_the_run_it_was_exported_from(
    tiny_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The shipped model has no training run beside it: its graph is scored, as served.
    monkeypatch.setattr(benchmark, "ARTIFACT_SCORES", tmp_path / "scores")
    data = tiny_artifact.parent / "datasets"
    run = tmp_path / "run-model"
    shutil.copytree(tiny_artifact.parent / "run" / "model", run)
    graph, torch_run = run_benchmark(tiny_artifact, data), run_benchmark(run, data)
    assert graph.keys() == torch_run.keys() == {"test"}
    for name, figures in torch_run["test"].items():
        for metric, value in figures.items():
            assert abs(graph["test"][name][metric] - value) < 0.02, (name, metric)
    assert len(list((tmp_path / "scores").glob("*.json"))) == 1
    columns = {"release": [(tiny_artifact, graph)]}
    assert "(exported graph, fp32)" in render(columns, "conflict-tagger benchmark-accuracy", 1.0)
