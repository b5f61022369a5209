"""`retrain` end to end on a tiny model: a production model, a file of corrected labeler
output, and the whole chain (import → ... → gate → register → promote), in a temporary
BentoML home. One run promotes a candidate, a second skips every step, and a deliberately
worse candidate is rejected with production left alone. Two rounds of corrections with
PER and ORG swapped show the second round held to the lineage's first model, scored on the
gate's own slice of the corrections."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from bentoml._internal.configuration.containers import BentoMLContainer
from typer.testing import CliRunner

from serving import registry
from serving.artifact import Artifact, verify
from tests.conftest import write_tiny_data
from tests.training.conftest import TINY_BERT, tiny_tokenizer
from training import retrain as retrain_module
from training.cli import app
from training.config import CORRECTIONS
from training.corpus.jsonlines import read_records
from training.gate import GateRules
from training.retrain import RetrainOptions, candidate_config, retrain

ACTORS = ["gunmen", "rebels", "terrorists", "troops"]
VICTIMS = ["a trader", "three men", "students", "police"]
PLACES = ["geneva", "the capital", "the town", "camp alpha"]


def _span(text: str, part: str, label: str) -> dict[str, Any]:
    start = text.index(part)
    return {"start": start, "end": start + len(part), "text": part, "label": label,
            "score": 0.9}  # fmt: skip


def corrected_output(path: Path, verb: str = "shot", swapped: bool = False) -> Path:
    """What an analyst hands back: `label` output whose tags they corrected (`swapped`:
    with the actors, organisations in re3d's tiny data, mislabelled PER)."""
    rows = []
    for i in range(16):
        actor, victim, place = ACTORS[i % 4], VICTIMS[(i // 4) % 4], PLACES[(i + i // 4) % 4]
        text = f"{actor} {verb} {victim} in {place}."  # re3d's tiny data: "Rebels" is an ORG
        tags = {
            "model": {"name": "conflict-tagger", "version": "v1"}, "windows": 1,
            "entities": [_span(text, actor, "PER" if swapped else "ORG"),
                         _span(text, place, "LOC")],
            "roles": [_span(text, actor, "PERP_IND"), _span(text, victim, "VICTIM")],
            "event_types": [{"label": "ARMED_ATTACK", "score": 0.8}],
            "coarse_types": ["VIOLENCE"], "sentences": [], "events": [], "dataset_labels": {},
        }  # fmt: skip
        rows.append({"id": f"{verb}{i}", "text": text, "tags": json.dumps(tags)})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def parent_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained well enough on tiny_data to be worth protecting."""
    from training.config import Config
    from training.evaluate import evaluate_all
    from training.export import ExportOptions, export
    from training.train import train

    base = tmp_path_factory.mktemp("retrain-parent")
    data = write_tiny_data(base / "datasets")
    texts = [p.read_text(encoding="utf-8") for p in data.rglob("*") if p.is_file()]
    texts.append(corrected_output(base / "words.jsonl").read_text(encoding="utf-8"))
    (base / "encoder").mkdir()
    tiny_tokenizer(texts, vocab_size=160).save(str(base / "encoder" / "tokenizer.json"))
    config = Config.model_validate({
        "model": {"encoder": str(base / "encoder"), "random_init": TINY_BERT | {"vocab_size": 160}},
        "windows": {"size": 24, "stride": 16},
        "data": {"data_dir": str(data), "train": {"re3d": {}, "muc4": {}, "cameo_ner": {}},
                 "dev": ["re3d", "muc4"]},
        "training": {"epochs": 6, "batch_tokens": 256, "threads": 1, "lr": 3e-3,
                     "head_lr": 1e-2, "patience": 6},
    })  # fmt: skip
    run = train(config, base / "run", evaluate_all, progress=False, log=lambda _: None)
    export(run.model_dir, base / "artifact", ExportOptions(min_agreement=0.0),
           texts=["rebels fired a rocket."], log=lambda _: None)  # fmt: skip
    return base / "artifact"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from bentoml._internal.utils.analytics.usage_stats import do_not_track

    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "True")
    do_not_track.cache_clear()
    with BentoMLContainer.bentoml_home.patch(str(tmp_path / "bentoml")):
        yield tmp_path / "bentoml"
    do_not_track.cache_clear()


@pytest.fixture
def production(home: Path, parent_artifact: Path) -> str:
    tag = registry.register(parent_artifact)
    registry.promote(tag)
    return tag


def test_retrain_promotes_a_better_candidate_then_skips_every_step(
    production: str, tmp_path: Path
) -> None:
    corrections = corrected_output(tmp_path / "corrected.jsonl")
    # Weight 1: three times over, the corrections pull the tiny model off re3d's dev set
    # by more than the margin (a rejection this gate is right to make). That set has a few
    # entities, so one entity moves its figure by up to 20 points.
    options = RetrainOptions(new=[corrections], work=tmp_path / "work", progress=False,
                             weight=1.0, rules=GateRules(margin=0.25))  # fmt: skip
    logged: list[str] = []
    result = retrain(options, log=logged.append)

    assert result.gate.accepted, result.gate.markdown()
    assert result.promoted and registry.production() == result.tag != production
    rows = {r.collection: r for r in result.gate.rows}
    assert set(rows) == {"re3d", "muc4", "corrections"}
    assert rows["corrections"].candidate > (rows["corrections"].production or 0)
    assert (result.report).read_text().startswith("# Gate: candidate")
    names = [s.name for s in result.steps]
    assert names == ["import", "validate", "merge", "slice", "train", "export", "evaluate",
                     "gate", "register", "promote"]  # fmt: skip
    assert not any(s.skipped for s in result.steps)

    manifest = verify(result.artifact).manifest
    parent_version = registry.resolve(production).version
    assert manifest["lineage"]["parent"]["version"] == parent_version
    # The first round's lineage starts at production, whose scores the gate recorded.
    assert manifest["lineage"]["first"] == {"version": parent_version, "tag": production}
    assert manifest["gate"]["first"]["scores"]["re3d"] == rows["re3d"].production
    added = manifest["lineage"]["data_added"]
    assert added["added"] == 16 and added["train"] + added["dev"] == 16 and added["dev"] >= 1
    assert manifest["gate"]["accepted"] is True
    assert [s["step"] for s in manifest["lineage"]["steps"]][:3] == ["import", "validate", "merge"]
    assert "## Lineage" in (result.artifact / "README.md").read_text()
    stored = registry.resolve(str(result.tag)).manifest
    assert stored["gate"]["accepted"] is True  # the registered copy carries the decision
    assert "corrections" in manifest["training"]["config"]["data"]["train"]

    again = retrain(options, log=lambda _: None)
    skipped = {s.name: s.skipped for s in again.steps}
    assert all(skipped[n] for n in ("import", "validate", "merge", "slice", "train", "export",
                                    "evaluate", "gate")), skipped  # fmt: skip
    assert again.tag == result.tag and not again.promoted  # already in production

    assert registry.rollback() == production  # one command back to the parent
    assert registry.production() == production


def test_retrain_rejects_a_worse_candidate_and_leaves_production(
    production: str, tmp_path: Path
) -> None:
    corrections = corrected_output(tmp_path / "corrected.jsonl")
    # A learning rate of almost nothing leaves the candidate at its random start.
    args = ["retrain", "--new", str(corrections), "--work", str(tmp_path / "work"),
            "--no-progress", "--training.lr", "1e-9", "--training.head_lr", "1e-9"]  # fmt: skip
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 2, out.output
    assert "rejected" in out.output and "Why it was rejected" in out.output
    assert registry.production() == production
    assert len(registry.list_models()) == 1  # a rejected candidate is not registered
    gate = json.loads(next((tmp_path / "work" / "candidates").glob("*/gate.json")).read_text())
    assert not gate["accepted"] and gate["reasons"]
    assert any(r.startswith("worse on") for r in gate["reasons"]), gate["reasons"]


def test_retrain_refuses_invalid_corrections_naming_the_record(
    production: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    tags = {"entities": [{"start": 0, "end": 6, "text": "rebels", "label": "TANK",
                          "score": 1.0}], "roles": [], "event_types": []}  # fmt: skip
    bad.write_text(json.dumps({"id": "x7", "text": "rebels fired.", "tags": tags}) + "\n")
    out = CliRunner().invoke(app, ["retrain", "--new", str(bad), "--work", str(tmp_path / "w")])
    assert out.exit_code == 1
    assert "TANK" in out.output and "bad.jsonl" in out.output
    assert registry.production() == production


def test_two_rounds_of_swapped_labels_cannot_ratchet_a_dataset_down(
    production: str, parent_artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every round trains, exports and registers for real; the scores are set per model
    (tiny models on tiny dev sets move in 20-point steps, not the 0.8 that slips through a
    1-point margin), so the test checks which models are scored on which records and what
    the gate makes of it."""
    first = registry.resolve(production).version
    rank = {first: 0}  # each new model: one round further down the lineage
    scored: list[tuple[str, dict[str, list[str]]]] = []

    def figures(artifact: Artifact, dev: dict[str, Any]) -> tuple[dict[str, Any], str]:
        scored.append((artifact.version, {n: [r.id for r in recs] for n, recs in dev.items()}))
        r = rank.setdefault(artifact.version, len(rank))
        # 0.8 points lost on re3d per round (within the margin), gained on the new data.
        mains = {"re3d": 0.600 - 0.008 * r, CORRECTIONS: 0.1 + 0.3 * r}
        return {name: {"main": mains.get(name, 0.5)} for name in dev}, "fp32"

    monkeypatch.setattr(retrain_module, "_figures", figures)
    work, rules = tmp_path / "work", GateRules(margin=0.01)
    round2 = RetrainOptions(
        new=[corrected_output(tmp_path / "r2.jsonl", "attacked", swapped=True)], work=work,
        progress=False, rules=rules,
    )  # fmt: skip
    one = retrain(RetrainOptions(
        new=[corrected_output(tmp_path / "r1.jsonl", "shot", swapped=True)], work=work,
        progress=False, rules=rules,
    ), log=lambda _: None)  # fmt: skip
    assert one.gate.accepted and one.promoted, one.gate.markdown()
    assert one.gate.first is not None and one.gate.first["version"] == first

    scored.clear()
    two = retrain(round2, log=lambda _: None)
    assert not two.gate.accepted and not two.promoted
    assert registry.production() == one.tag  # the first round's model stays
    round_one = registry.resolve(str(one.tag)).version
    assert two.gate.reasons == [
        f"worse on re3d: 58.4 against 60.0 of the lineage's first model {first} "
        "(production: 59.2), a drop of 1.6 points from it (allowed drop 1.0)"
    ]
    # Candidate, production and the first model, all on the same records, the
    # corrections being this round's gate slice and nothing the candidate was chosen on.
    assert [v for v, _ in scored][1:] == [round_one, first]
    gate_ids = {r.id for _, r in read_records(work / "slices" / "gate.jsonl")}
    select_ids = {r.id for _, r in read_records(work / "slices" / "select" / "dev.jsonl")}
    assert all(set(dev[CORRECTIONS]) == gate_ids for _, dev in scored)
    assert all(dev == scored[0][1] for _, dev in scored)
    assert gate_ids and select_ids and not gate_ids & select_ids
    stored = json.loads((two.report.parent / "gate.json").read_text())
    assert stored["first"] == {"version": first, "tag": production,
                               "scores": {"muc4": 0.5, "re3d": 0.6, CORRECTIONS: 0.1}}  # fmt: skip
    assert stored["slices"]["gate"] == len(gate_ids)
    assert stored["slices"]["select"] == len(select_ids)
    config = verify(two.artifact).manifest["training"]["config"]
    assert config["data"]["corrections"] == str((work / "slices" / "select").resolve())

    # Without the first model there is no baseline to hold the lineage to: say so.
    registry.delete(production)
    with pytest.raises(ValueError, match=f"first model {first} .* is not in the registry"):
        retrain(round2, log=lambda _: None)
    registry.register(parent_artifact)  # a new tag, the same model: found by its version
    assert not retrain(round2, log=lambda _: None).gate.accepted


def test_retrain_refuses_too_few_corrections_for_two_slices(
    production: str, tmp_path: Path
) -> None:
    few = tmp_path / "few.jsonl"
    rows = corrected_output(tmp_path / "all.jsonl").read_text().splitlines()[:3]
    few.write_text("\n".join(rows) + "\n")
    out = CliRunner().invoke(app, ["retrain", "--new", str(few), "--work", str(tmp_path / "w")])
    assert out.exit_code == 1, out.output
    assert "each needs at least 2" in out.output and "you have 3" in out.output
    assert not (tmp_path / "w" / "candidates").exists()  # refused before any training


def test_a_continued_recipe_retrains_from_the_parent_itself(
    tiny_artifact: Path, tmp_path: Path
) -> None:
    # The shipped release continued an earlier stage (model.init_from names that stage's
    # run folder) with itself as teacher: only its training machine had those folders.
    manifest = json.loads((tiny_artifact / "manifest.json").read_text())
    manifest["training"]["config"]["model"]["init_from"] = "runs/release/model"
    manifest["training"]["config"]["teacher"] = {"model": "runs/release2/model"}
    parent = SimpleNamespace(manifest=manifest, path=tiny_artifact)
    options = RetrainOptions(new=[], work=tmp_path)
    config = candidate_config(options, parent, tmp_path / "corrections")  # type: ignore[arg-type]
    assert config.model.init_from == str(tiny_artifact)
    assert config.teacher is not None and config.teacher.model == str(tiny_artifact)
    assert CORRECTIONS in config.data.train
