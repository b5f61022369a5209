"""The exported model folder that serving loads, and the checks that make it trustworthy.

An artifact holds `model.onnx` (fp32), `model.int8.onnx`, `tokenizer.json`, `labels.json`,
`README.md` (the model card) and `manifest.json`, which records the sha256 of every other
file. Loading refuses a folder whose files fail their checksums or whose labels differ
from this code's schema, so a served model can never silently disagree with the decoder.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from serving.engine import BATCH_TOKENS, EngineSettings
from serving.schema import SCHEMA_VERSION, label_differences, label_lists
from serving.tokenizer import Tokenizer

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
GRAPHS = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
FILES = (*GRAPHS.values(), "tokenizer.json", "labels.json", "README.md")
OUTPUTS = ("entity_logits", "event_role_logits", "actor_role_logits", "segment_logits")
Precision = Literal["fp32", "int8"]


class ArtifactError(ValueError):
    """An artifact folder that must not be served; the message says what to do."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def expected_labels() -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, **label_lists()}


@dataclass(frozen=True)
class Artifact:
    path: Path
    manifest: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def thresholds(self) -> dict[str, float]:
        return dict(self.manifest.get("thresholds", {}))

    def settings(self, batch_tokens: int = BATCH_TOKENS) -> EngineSettings:
        w = self.manifest["windows"]
        return EngineSettings(int(w["size"]), int(w["stride"]), batch_tokens)

    def tokenizer(self) -> Tokenizer:
        return Tokenizer.from_file(self.path / "tokenizer.json")

    @property
    def int8_accepted(self) -> bool:
        """Whether the int8 graph passed the export's agreement check against fp32."""
        return bool(self.manifest.get("quantization", {}).get("accepted", False))

    def precision(self, requested: Precision | Literal["auto"] = "auto") -> Precision:
        """The graph to run: "auto" is int8 where it passed parity at export, else fp32."""
        if requested == "auto":
            return "int8" if self.int8_accepted else "fp32"
        if requested == "int8" and not self.int8_accepted:
            q = self.manifest.get("parity", {})
            raise ArtifactError(
                f"the int8 graph of {self.path} failed the export's parity check (it agrees with "
                f"fp32 on {100 * q.get('int8_span_agreement', 0):.1f}% of spans, "
                f"{100 * q.get('int8_label_agreement', 0):.1f}% of labels; minimum "
                f"{100 * q.get('min_agreement', 0):.0f}%): run the fp32 graph (precision fp32 "
                "or auto), or re-export with a lower --min-agreement if you accept the drift"
            )
        return requested

    def graph(self, precision: Precision = "int8") -> Path:
        return self.path / GRAPHS[precision]


def verify(path: Path | str) -> Artifact:
    """Read and check an artifact folder: manifest, every checksum, the label lists."""
    path = Path(path)
    where = path / MANIFEST
    if not where.is_file():
        raise ArtifactError(
            f"{path} is not a model artifact (no {MANIFEST}); create one with "
            "`conflict-tagger export RUN/model OUT_DIR`"
        )
    try:
        manifest = json.loads(where.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ArtifactError(f"{where} is not valid JSON ({err}); re-export the artifact") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{where} has format_version {manifest.get('format_version')!r}; this code reads "
            f"{FORMAT_VERSION}: re-export the artifact with this version"
        )
    recorded: dict[str, str] = manifest.get("files", {})
    for name in FILES:
        if name not in recorded:
            raise ArtifactError(f"{where} lists no checksum for {name}; re-export the artifact")
    for name, digest in recorded.items():
        file = path / name
        if not file.is_file():
            raise ArtifactError(f"{file} is missing; re-export or re-download the artifact")
        actual = sha256_file(file)
        if actual != digest:
            raise ArtifactError(
                f"{file} fails its checksum (manifest sha256 {digest[:12]}..., file "
                f"{actual[:12]}...): it was changed or damaged; re-export or re-download it"
            )
    differ = label_differences(json.loads((path / "labels.json").read_text(encoding="utf-8")))
    if differ:
        raise ArtifactError(
            f"{path / 'labels.json'} differs from this code's label schema in: "
            f"{', '.join(differ)}; serve it with the code version that exported it, or "
            "retrain and export with this one"
        )
    return Artifact(path, manifest)
