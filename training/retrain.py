"""`conflict-tagger retrain`: users' corrections in, a gated production model out.

A chain of the project's own commands, each a step with declared inputs and outputs
(training/pipeline.py), so a rerun skips what did not change and an interrupted run
continues (training itself resumes from its checkpoints):

import → validate → merge → slice → train → export (fuse, quantize, parity) → evaluate →
gate → register → promote

Everything lives in one work folder: the accumulated corrections (`corrections/`, every
round's records, each text once, with its own dev slice), that dev slice cut in two
(`slices/select/`, what training reads, and `slices/gate.jsonl`, which only the gate reads),
one folder per candidate (`candidates/<key>/`, keyed by the config and the corrections, so an
older candidate is never overwritten) holding the training run, the artifact,
`evaluation.json`, `gate.md` and `gate.json`, and the step records (`steps/`). The gate
compares the candidate with the model in production and with the lineage's first model (the
one these retrainings started from) on the same dev records, through the graphs each serves.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serving.artifact import INTEGRITY, Artifact, seal, verify
from serving.registry import PRODUCTION, RegistryError
from training.config import CORRECTIONS, Config, apply_override, load_config, parse_overrides
from training.corrections.slices import MIN_SLICE
from training.gate import FirstModel, GateResult, GateRules, decide
from training.pipeline import Step, StepRecord, fingerprint, run_step

Log = Callable[[str], None]


@dataclass(frozen=True)
class RetrainOptions:
    new: list[Path]  # records, corrected labeler output, Label Studio exports, CoNLL
    work: Path = Path("runs/retrain")
    config: Path | None = None  # the recipe; default: the production model's own
    overrides: list[str] = field(default_factory=list)  # `--training.epochs 3` style
    parent: str = PRODUCTION  # the model the candidate must beat
    text_field: str = "text"
    dev_percent: int = 20
    min_slice: int = MIN_SLICE  # dev corrections each slice (select, gate) needs at least
    weight: float = 3.0  # how often a correction is drawn per epoch, relative to its count
    rules: GateRules = field(default_factory=GateRules)
    promote: bool = True
    reload_url: str | None = None  # a running service to tell about a promotion
    token: str | None = None
    progress: bool = True


@dataclass
class RetrainResult:
    gate: GateResult
    artifact: Path
    report: Path
    tag: str | None  # registry tag, when registered
    promoted: bool
    steps: list[StepRecord]


def find_parent(ref: str) -> Artifact | None:
    """The model to beat; None when nothing is in production yet (an explicit ref that
    does not resolve is an error)."""
    from serving import registry

    if ref == PRODUCTION and registry.production() is None:
        return None
    try:
        return registry.resolve(ref)
    except RegistryError as err:
        raise ValueError(f"cannot read the parent model {ref!r}: {err}") from None


def _recorded_lineage(artifact_dir: Path) -> dict[str, Any]:
    """An exported candidate's lineage; the export step verifies the artifact's files."""
    manifest = artifact_dir / "manifest.json"
    if not manifest.is_file():
        return {}
    return json.loads(manifest.read_text(encoding="utf-8")).get("lineage") or {}


def pinned_parent(
    artifact_dir: Path, parent: Artifact | None, parent_tag: str | None, log: Log
) -> tuple[Artifact | None, str | None]:
    """A candidate is always judged against the model it was made to replace: after its
    promotion, a rerun would otherwise compare it with itself."""
    from serving import registry

    recorded = _recorded_lineage(artifact_dir).get("parent") or {}
    tag = recorded.get("tag")
    if not tag or (parent is not None and parent.version == recorded.get("version")):
        return parent, parent_tag
    log(f"this candidate was made to replace {tag}: comparing with it, as before")
    try:
        return registry.resolve(tag), tag
    except RegistryError as err:
        raise ValueError(f"the model this candidate was made to replace is gone: {err}") from None


def first_model(
    artifact_dir: Path, parent: Artifact | None, parent_tag: str | None
) -> dict[str, Any] | None:
    """The lineage's first model ({version, tag}): the one the chain of retrainings started
    from, as the candidate or its parent recorded it; the parent itself in the first round."""
    recorded = _recorded_lineage(artifact_dir).get("first")
    if recorded or parent is None:
        return recorded or None
    inherited = (parent.manifest.get("lineage") or {}).get("first")
    return dict(inherited) if inherited else {"version": parent.version, "tag": parent_tag}


def load_first(first: dict[str, Any] | None, parent: Artifact | None) -> Artifact | None:
    """The first model's artifact, to score on the gate's records; None when it is the
    parent (scored anyway) or there is none. Found by its tag, else by its version."""
    from serving import registry

    if first is None or (parent is not None and first["version"] == parent.version):
        return None
    tags = [str(first.get("tag"))]
    tags += [m.tag for m in registry.list_models() if m.artifact_version == first["version"]]
    for tag in tags:
        try:
            found = registry.resolve(tag)
        except RegistryError:
            continue
        if found.version == first["version"]:
            return found
    raise ValueError(
        f"the lineage's first model {first['version']} (tag {first.get('tag')}) is not in the "
        "registry: the gate scores it again on each round's records, so that drops within "
        "the margin cannot add up over rounds. Register it again (conflict-tagger models "
        "register ARTIFACT)"
    )


def candidate_config(
    options: RetrainOptions, parent: Artifact | None, corrections: Path
) -> Config:  # fmt: skip
    """The recipe (the given config, else the parent's own) plus the corrections."""
    if options.config is not None:
        raw: dict[str, Any] = load_config(options.config).model_dump(mode="json")
    elif parent is not None:
        raw = json.loads(json.dumps(parent.manifest["training"]["config"]))
        # A recipe that continued an earlier stage names that stage's run folder, which
        # only its training machine had: the retraining continues from the parent itself.
        if raw["model"].get("init_from"):
            raw["model"]["init_from"] = str(parent.path)
        if raw.get("teacher"):
            raw["teacher"]["model"] = str(parent.path)
    else:
        raise ValueError(
            "nothing is in production, so there is no recipe to retrain: pass --config "
            "(e.g. configs/default.yaml)"
        )
    data = raw["data"]
    data["corrections"] = str(corrections.resolve())
    data["train"].setdefault(CORRECTIONS, {"weight": options.weight})
    if CORRECTIONS not in data["dev"]:
        data["dev"] = [*data["dev"], CORRECTIONS]
    for path, value in parse_overrides(options.overrides):
        apply_override(raw, path, value)
    return Config.model_validate(raw)


def _gate_records(config: Config, gate_file: Path) -> dict[str, Any]:
    """The built-in collections' dev records, and the corrections' gate slice in place of
    the select slice the candidate was chosen on."""
    from training.corpus.jsonlines import read_records
    from training.train import load_records

    dev = load_records(config)["dev"]
    out = {name: dev[name] for name in config.data.dev if name != CORRECTIONS}
    out[CORRECTIONS] = [r for _, r in read_records(gate_file)]
    return out


def _figures(artifact: Artifact, dev: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Dev figures through the graph the artifact serves, with its own thresholds."""
    from serving.engine import Engine
    from serving.onnx_backend import OnnxBackend
    from training.evaluate import evaluate_all

    precision = artifact.precision("auto")
    engine = Engine(
        artifact.tokenizer(), OnnxBackend(artifact.graph(precision)), artifact.settings()
    )
    figures, _ = evaluate_all(engine, dev, artifact.thresholds)
    return figures, precision


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def retrain(options: RetrainOptions, log: Log = print) -> RetrainResult:
    """Run the chain; returns the gate's decision and what was registered and promoted."""
    from serving import registry
    from training.corpus.build import convert_all, write_jsonl
    from training.corpus.jsonlines import read_records, validate_jsonl
    from training.corpus.sources import data_dir as locate
    from training.corrections import (
        CorrectionsError,
        merge_corrections,
        read_corrections,
        split_dev,
    )
    from training.evaluate import evaluate_all
    from training.export import ExportOptions, export
    from training.train import train

    missing = [p for p in options.new if not p.is_file()]
    if not options.new or missing:
        raise FileNotFoundError(
            f"annotation file {missing[0]} does not exist" if missing else
            "no annotation files: pass --new FILE (repeat for several)"
        )  # fmt: skip
    work = options.work
    state, corrections = work / "steps", work / "corrections"
    select, gate_file = work / "slices" / "select", work / "slices" / "gate.jsonl"
    imported = work / "imported.jsonl"
    parent = find_parent(options.parent)
    parent_tag = options.parent if options.parent != PRODUCTION else registry.production()
    config = candidate_config(options, parent, select)  # training never sees the gate slice
    steps: list[StepRecord] = []

    def step(s: Step) -> dict[str, Any]:
        record = run_step(s, state, log)
        steps.append(record)
        return record.summary

    def do_import() -> dict[str, Any]:
        records, notes = read_corrections(options.new, options.text_field)
        imported.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(records, imported)
        for note in notes:
            log(f"  {note}")
        files = [{"path": str(p), "sha256": fingerprint(p)} for p in options.new]
        return {"records": len(records), "notes": notes, "files": files}

    imports = step(Step(
        "import", {"files": [str(p) for p in options.new], **{str(p): p for p in options.new},
                   "text_field": options.text_field},
        [imported], do_import,
    ))  # fmt: skip

    def do_validate() -> dict[str, Any]:
        problems = validate_jsonl(imported)
        if problems:
            raise CorrectionsError("\n".join(problems[:50]))
        return {"records": sum(1 for _ in read_records(imported)), "problems": 0}

    step(Step("validate", {"imported": imported}, [], do_validate))

    def do_merge() -> dict[str, Any]:
        built_in = sorted((set(config.data.train) | set(config.data.dev)) - {CORRECTIONS})
        reference = (
            convert_all(locate(config.data.data_dir), only=built_in).records if built_in else []
        )
        report = merge_corrections(
            [r for _, r in read_records(imported)], corrections, reference, options.dev_percent
        )
        _write(work / "merge.md", report.markdown())
        for line in report.lines():
            log(f"  {line}")
        counts = ("added", "replaced", "duplicates_in_new", "train_duplicates",
                  "dropped_eval_duplicates", "train", "dev")  # fmt: skip
        return {k: getattr(report, k) for k in counts}

    merged = step(Step(
        "merge", {"imported": imported, "dev_percent": options.dev_percent,
                  "data": config.model_dump(mode="json")["data"]},
        [corrections / "train.jsonl"], do_merge,
    ))  # fmt: skip

    def do_slice() -> dict[str, Any]:
        slices = split_dev(corrections, select, gate_file, options.min_slice, options.dev_percent)
        log(f"  dev corrections: {slices.select} select, {slices.gate} gate ({slices.rule})")
        return slices.as_json()

    slices = step(Step(
        "slice", {"corrections": corrections, "min_slice": options.min_slice},
        [select / "train.jsonl", select / "dev.jsonl", gate_file], do_slice,
    ))  # fmt: skip

    key = fingerprint({"config": config.digest(), "corrections": fingerprint(select)})[:12]
    folder = work / "candidates" / key
    run_dir, artifact_dir = folder / "run", folder / "artifact"
    parent, parent_tag = pinned_parent(artifact_dir, parent, parent_tag, log)
    first = first_model(artifact_dir, parent, parent_tag)
    first_artifact = load_first(first, parent)

    def do_train() -> dict[str, Any]:
        result = train(config, run_dir, evaluate_all, progress=options.progress, log=log)
        return {"best_dev_score": result.best_score, "epochs": result.epochs_run,
                "minutes": round(result.seconds / 60, 1), "run": str(run_dir)}  # fmt: skip

    step(Step("train", {"config": config.digest(), "corrections": select},
              [run_dir / "finished.json"], do_train))  # fmt: skip

    lineage = {
        "parent": None if parent is None else {"version": parent.version, "tag": parent_tag},
        "first": first,
        "data_added": {"files": imports["files"], **merged},
        "config": str(options.config) if options.config else "the parent's own",
        "overrides": options.overrides,
    }

    def do_export() -> dict[str, Any]:
        weights = run_dir / "model" / "weights.pt"
        if (artifact_dir / "manifest.json").is_file():  # exported before the step was recorded
            done = verify(artifact_dir)
            if done.manifest["training"]["weights_sha256"] == fingerprint(weights):
                return _export_summary(done.manifest)
            raise ValueError(f"{artifact_dir} holds another model's artifact: move it away")
        manifest = export(run_dir / "model", artifact_dir, ExportOptions(), log=log,
                          lineage=lineage)  # fmt: skip
        return _export_summary(manifest)

    step(Step("export", {"weights": run_dir / "model" / "weights.pt"},
              [artifact_dir / "manifest.json"], do_export))  # fmt: skip
    candidate = verify(artifact_dir)

    def do_evaluate() -> dict[str, Any]:
        # Every model on the same records: the baselines are scored again, never taken
        # from another round's (or another slice's) figures.
        dev = _gate_records(config, gate_file)
        new, new_precision = _figures(candidate, dev)
        old, old_precision = _figures(parent, dev) if parent is not None else (None, None)
        held, held_precision = (
            _figures(first_artifact, dev) if first_artifact is not None else (None, None)
        )
        blob = {"candidate": new, "production": old, "first": held,
                "first_model": first, "slices": slices,
                "precision": {"candidate": new_precision, "production": old_precision,
                              "first": held_precision},
                "records": {name: len(recs) for name, recs in dev.items()}}  # fmt: skip
        _write(folder / "evaluation.json", json.dumps(blob, indent=2) + "\n")
        return {"records": blob["records"], "precision": blob["precision"]}

    step(Step(
        "evaluate", {"candidate": candidate.version,
                     "production": None if parent is None else parent.version,
                     "first": first, "config": config.digest(), "gate": gate_file},
        [folder / "evaluation.json"], do_evaluate,
    ))  # fmt: skip

    evaluation = json.loads((folder / "evaluation.json").read_text(encoding="utf-8"))
    gate = decide(
        evaluation["production"], evaluation["candidate"], candidate.manifest["parity"],
        options.rules, (None if parent is None else parent.version, candidate.version),
        _first(evaluation), evaluation.get("slices"),
    )  # fmt: skip

    def do_gate() -> dict[str, Any]:
        _write(folder / "gate.md", gate.markdown())
        _write(folder / "gate.json", json.dumps(gate.as_json(), indent=2) + "\n")
        # The gate runs before registration, so the registered manifest records it; the
        # manifest is sealed again (its fields are checksummed, as at export).
        manifest = {k: v for k, v in candidate.manifest.items() if k != INTEGRITY}
        manifest["gate"] = gate.as_json()
        manifest["lineage"] = {**manifest.get("lineage", lineage),
                               "steps": [s.as_json() for s in steps]}  # fmt: skip
        _write(artifact_dir / "manifest.json", json.dumps(seal(manifest), indent=2) + "\n")
        return {"accepted": gate.accepted, "reasons": gate.reasons}

    step(Step("gate", {"evaluation": folder / "evaluation.json", "rules": vars(options.rules)},
              [folder / "gate.md", folder / "gate.json"], do_gate))  # fmt: skip
    log(gate.markdown())

    tag, promoted = None, False
    if gate.accepted:
        tag = registry.register(artifact_dir)  # idempotent: one version per artifact
        log(f"register: {tag}")
        steps.append(StepRecord("register", False, {"tag": tag}))
        if options.promote and registry.production() != tag:
            registry.promote(tag)
            promoted = True
            log(f"promote: {tag} is now in production (undo: conflict-tagger models rollback)")
            steps.append(StepRecord("promote", False, {"tag": tag}))
        if promoted and options.reload_url:
            from serving.client import reload_service

            answer = reload_service(options.reload_url, options.token)
            log(f"reload: {options.reload_url} now serves {answer['current']['version']}")
    else:
        log(
            f"rejected: production is unchanged. The candidate stays in {artifact_dir}; to "
            f"serve it anyway: conflict-tagger models register {artifact_dir} && "
            "conflict-tagger models promote TAG"
        )
    return RetrainResult(gate, artifact_dir, folder / "gate.md", tag, promoted, steps)


def _first(evaluation: dict[str, Any]) -> FirstModel | None:
    first = evaluation.get("first_model")
    if not first:
        return None
    return FirstModel(first["version"], first.get("tag"), evaluation.get("first"))


def _export_summary(manifest: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": manifest["version"], "fusions": manifest["fusions"],
        "quantize": {"nodes": manifest["quantization"].get("nodes"),
                     "accepted": manifest["quantization"].get("accepted")},
        "parity": manifest["parity"],
    }  # fmt: skip
