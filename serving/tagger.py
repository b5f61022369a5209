"""The product's one entry point: `Tagger.from_artifact(...).tag(texts) -> list[Result]`.

Stages: sentence split -> tokenize (Rust tokenizers, with offsets) -> windows -> ONNX
Runtime in batches by token budget -> decode -> merge windows -> event records. The HTTP
service, batch labeling and Ray workers all call this class; nothing else runs the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from serving.artifact import Artifact, resolve
from serving.engine import BATCH_TOKENS, Engine
from serving.events import build_result
from serving.onnx_backend import OnnxBackend
from serving.result import ModelInfo, Result
from serving.sentences import split_sentences


class RuntimeSettings(BaseSettings):
    """CPU settings, from CONFLICT_TAGGER_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="CONFLICT_TAGGER_", extra="ignore")

    # auto: int8 where the export accepted it (dev F1 within 0.5 points of fp32 on every
    # dev collection), else fp32. The int8 graph runs each window alone (OnnxBackend's
    # rows_alone), so a document's tags never depend on the other documents of a batch.
    precision: Literal["auto", "int8", "fp32"] = "auto"
    # ONNX Runtime intra-op threads per session (0: one per core). With several worker
    # processes, threads x workers should not exceed the cores.
    threads: int = Field(0, ge=0)
    batch_tokens: int = Field(BATCH_TOKENS, ge=256)  # padded tokens per ONNX Runtime call
    arena: bool = True  # ONNX Runtime's CPU memory arena: faster, holds peak memory


class Tagger:
    def __init__(self, artifact: Artifact, settings: RuntimeSettings | None = None) -> None:
        self.artifact = artifact
        self.settings = settings or RuntimeSettings()
        s = self.settings
        self.precision = artifact.precision(s.precision)
        backend = OnnxBackend(artifact.graph(self.precision), s.threads or None, s.arena)
        self.engine = Engine(artifact.tokenizer(), backend, artifact.settings(s.batch_tokens))
        self.thresholds = artifact.thresholds
        self.info = ModelInfo(name=str(artifact.manifest["name"]), version=artifact.version)

    @classmethod
    def from_artifact(cls, ref: str | Path, settings: RuntimeSettings | None = None) -> Tagger:
        """ "shipped", an artifact folder, a registry tag or `production` (verified)."""
        return cls(resolve(ref), settings)

    def count_tokens(self, texts: Sequence[str]) -> int:
        """Content tokens of `texts`: what a request costs the model, known before it runs."""
        return self.engine.tokenizer.count(list(texts))

    def tag(self, texts: Sequence[str]) -> list[Result]:
        sentences = [split_sentences(t) for t in texts]
        decoded = self.engine.run(texts, sentences)
        return [
            build_result(t, s, d, self.thresholds, self.info)
            for t, s, d in zip(texts, sentences, decoded, strict=True)
        ]
