"""The offline throughput benchmark on a tiny trained model: corpora, subprocess
measurements of every system, and the HF baseline really running our weights."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.corpora import Corpus, build_corpora
from benchmarks.offline import SYSTEMS, measure
from serving.sentences import split_sentences
from serving.tokenizer import Tokenizer
from serving.windows import make_windows
from tests.conftest import write_tiny_data

WINDOW = 12  # the tiny model's window (tokens), as in tests/conftest.py's tiny_artifact


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny trained model folder, its exported artifact and the datasets it came from
    (conftest's tiny_artifact keeps no model folder, which the HF baselines need)."""
    from tests.training.conftest import TINY_BERT, tiny_tokenizer
    from training.config import Config
    from training.evaluate import evaluate_all
    from training.export import ExportOptions, export
    from training.train import train

    base = tmp_path_factory.mktemp("offline-bench")
    data = write_tiny_data(base / "datasets")
    texts = [p.read_text(encoding="utf-8") for p in data.rglob("*") if p.is_file()]
    (base / "encoder").mkdir()
    tiny_tokenizer(texts).save(str(base / "encoder" / "tokenizer.json"))
    config = Config.model_validate({
        "model": {"encoder": str(base / "encoder"), "random_init": TINY_BERT},
        "windows": {"size": WINDOW, "stride": 8},
        "data": {"data_dir": str(data), "train": {"re3d": {}, "muc4": {}, "satp": {}},
                 "dev": ["muc4"]},
        "training": {"epochs": 1, "batch_tokens": 256, "threads": 1, "lr": 1e-3},
    })  # fmt: skip
    run = train(config, base / "run", evaluate_all, progress=False, log=lambda _: None)
    export(run.model_dir, base / "artifact", ExportOptions(min_agreement=0.0),
           texts=["Rebels fired a rocket."], log=lambda _: None)  # fmt: skip
    return {"model": run.model_dir, "artifact": base / "artifact", "data": data}


@pytest.fixture(scope="module")
def corpora(
    tiny_run: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Corpus]:
    out = tmp_path_factory.mktemp("corpora")
    return build_corpora(out, tiny_run["data"], n_short=6, n_long=2, artifact=tiny_run["artifact"])


def test_corpora_are_deterministic_and_reused(
    tiny_run: dict[str, Path], corpora: dict[str, Corpus], tmp_path: Path
) -> None:
    again = build_corpora(tmp_path, tiny_run["data"], n_short=6, n_long=2,
                          artifact=tiny_run["artifact"])  # fmt: skip
    assert {n: c.sha256 for n, c in again.items()} == {n: c.sha256 for n, c in corpora.items()}
    stamp = (tmp_path / "short.jsonl").stat().st_mtime_ns
    reused = build_corpora(tmp_path, tiny_run["data"], n_short=6, n_long=2,
                           artifact=tiny_run["artifact"])  # fmt: skip
    assert reused == again
    assert (tmp_path / "short.jsonl").stat().st_mtime_ns == stamp
    other = build_corpora(tmp_path, tiny_run["data"], n_short=5, n_long=2,
                          artifact=tiny_run["artifact"])  # fmt: skip
    assert other["short"].docs == 5  # other parameters: rebuilt, not reused


def test_short_holds_sentences_and_long_multi_window_documents(
    tiny_run: dict[str, Path], corpora: dict[str, Corpus]
) -> None:
    short, long = corpora["short"], corpora["long"]
    assert short.docs == 6 and long.docs == 2
    assert all(len(split_sentences(t)) == 1 for t in short.texts())
    tokenizer = Tokenizer.from_file(tiny_run["artifact"] / "tokenizer.json")
    lengths = [len(e.ids) for e in tokenizer.encode_batch(long.texts())]
    assert all(len(make_windows(n, WINDOW, 8)) > 1 for n in lengths)
    assert long.tokens == sum(lengths) and long.chars == sum(map(len, long.texts()))
    rows = [json.loads(line) for line in long.path.read_text(encoding="utf-8").splitlines()]
    assert all(set(r) == {"id", "text"} for r in rows)


@pytest.mark.parametrize("system", SYSTEMS)
def test_every_system_gives_a_row(
    system: str, tiny_run: dict[str, Path], corpora: dict[str, Corpus]
) -> None:
    row = measure(system, corpora["long"], runs=1, threads=1, limit=2,
                  artifact=tiny_run["artifact"], model=tiny_run["model"])  # fmt: skip
    assert (row.system, row.corpus, row.documents, row.threads) == (system, "long", 2, 1)
    assert row.docs_per_s > 0 and row.tokens_per_s > 0 and row.seconds > 0
    assert row.docs_per_s_min <= row.docs_per_s <= row.docs_per_s_max
    assert row.peak_rss_mib > 0 and row.load_seconds > 0


def test_measurements_run_in_their_own_process(
    tiny_run: dict[str, Path], corpora: dict[str, Corpus], tmp_path: Path
) -> None:
    import torch  # noqa: F401  (loaded here: a child that shared this process would see it)

    out = tmp_path / "fp32.json"
    subprocess.run(
        [sys.executable, "-m", "benchmarks.offline", "--system", "engine-fp32",
         "--corpus", str(corpora["short"].path), "--threads", "1", "--json", str(out),
         "--artifact", str(tiny_run["artifact"]), "--model", str(tiny_run["model"])],
        check=True, capture_output=True,
    )  # fmt: skip
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["torch_imported"] is False  # the engine's process never loads torch
    assert result["peak_rss_mib"] > 0 and result["documents"] == 6
    row = measure("engine-fp32", corpora["short"], runs=2, threads=1,
                  artifact=tiny_run["artifact"], model=tiny_run["model"])  # fmt: skip
    assert row.runs == 2 and row.peak_rss_mib > 0


def test_hf_pipeline_runs_our_weights(tiny_run: dict[str, Path], tmp_path: Path) -> None:
    import torch

    from benchmarks.hf_baseline import (
        export_token_classifier,
        finetuned_pipeline,
        pipeline_entity_logits,
    )
    from training.checkpoint import load_model

    folder, stride = export_token_classifier(tiny_run["model"], tmp_path / "hf")
    assert stride == WINDOW - 8
    pipe = finetuned_pipeline(folder, stride, threads=1)
    text = "Rebels fired a rocket at Camp Alpha."
    ids, logits = pipeline_entity_logits(pipe, text)

    model, tokenizer, _, _ = load_model(tiny_run["model"])
    ours = [*tokenizer.prefix, *tokenizer.encode_batch([text])[0].ids.tolist(), *tokenizer.suffix]
    assert ids.tolist() == ours
    with torch.no_grad():
        out = model(torch.tensor([ours]), torch.ones(1, len(ours), dtype=torch.long))
    np.testing.assert_allclose(logits, out["entity_logits"][0].numpy(), atol=1e-5)
    assert pipe.model.config.id2label[1].startswith("B-")
    assert isinstance(pipe(text), list)
