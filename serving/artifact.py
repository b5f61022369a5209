"""The exported model folder that serving loads, and the checks that make it trustworthy.

An artifact holds `model.onnx` (fp32 compute; its weights may be stored as fp16 and
upcast when ONNX Runtime loads it), optionally `model.int8.onnx`, `tokenizer.json`,
`labels.json`, `README.md` (the model card) and `manifest.json`, which records the sha256
of every other file and of each of its own fields. Loading refuses a folder whose files
or manifest fields fail their checksums or whose labels differ from this code's schema,
so a served model can never silently disagree with the decoder or its export: an edited
threshold or window changes what is served as surely as an edited graph.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from serving.engine import BATCH_TOKENS, EngineSettings
from serving.schema import SCHEMA_VERSION, label_differences, label_lists
from serving.tokenizer import Tokenizer

FORMAT_VERSION = 2  # 2: manifest field checksums; the int8 graph optional
MANIFEST = "manifest.json"
GRAPHS = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
REQUIRED = (GRAPHS["fp32"], "tokenizer.json", "labels.json", "README.md")
INTEGRITY = "integrity"  # the manifest's own field checksums
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


def field_checksums(manifest: dict[str, Any]) -> dict[str, str]:
    """sha256 of each manifest field's canonical JSON, the integrity field excepted."""
    return {
        key: hashlib.sha256(
            json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        for key, value in manifest.items()
        if key != INTEGRITY
    }


def seal(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with its field checksums: what `verify` checks every field against."""
    return {**manifest, INTEGRITY: {"fields_sha256": field_checksums(manifest)}}


def write_manifest(folder: Path, manifest: dict[str, Any], files: list[str]) -> dict[str, Any]:
    """Checksum `files`, seal the manifest, write it into `folder` and verify the folder:
    the last step of every tool that makes an artifact. Returns the sealed manifest."""
    manifest = {k: v for k, v in manifest.items() if k != INTEGRITY}
    manifest["files"] = {name: sha256_file(folder / name) for name in sorted(set(files))}
    sealed = seal(manifest)
    (folder / MANIFEST).write_text(json.dumps(sealed, indent=2) + "\n", encoding="utf-8")
    verify(folder)
    return sealed


def _check_fields(manifest: dict[str, Any], where: Path) -> None:
    recorded = manifest.get(INTEGRITY, {}).get("fields_sha256")
    if not isinstance(recorded, dict):
        raise ArtifactError(
            f"{where} has no field checksums ({INTEGRITY}.fields_sha256); re-export the artifact"
        )
    actual = field_checksums(manifest)
    changed = sorted(k for k in actual.keys() | recorded.keys() if actual.get(k) != recorded.get(k))
    if changed:
        raise ArtifactError(
            f"{where}: manifest field(s) {', '.join(changed)} differ from the values recorded "
            "at export (edited or damaged); they change what is served, so restore the "
            "original manifest, or re-export (or re-tune with `conflict-tagger thresholds` "
            "and export) to change them"
        )


def _plain_name(name: str) -> bool:
    """A file name inside the artifact folder itself: no folders, no '..', not absolute."""
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..")


# The release model a source checkout ships: models/conflict-tagger-VERSION/ (one at a time).
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
SHIPPED_PREFIX = "conflict-tagger-"


def shipped(folder: Path | None = None) -> Path:
    """The one release artifact folder in models/; the error says what to do when there
    is none or more than one."""
    folder = folder or MODELS_DIR
    found = sorted(p for p in folder.glob(f"{SHIPPED_PREFIX}*") if (p / MANIFEST).is_file())
    if len(found) != 1:
        what = "no release artifact" if not found else f"{len(found)} release artifacts"
        raise ArtifactError(
            f"{folder} holds {what} ({SHIPPED_PREFIX}VERSION/ with a {MANIFEST}); it must "
            "hold exactly one: restore it with git, rebuild it with `make model`, or name "
            "an artifact folder or registry tag instead"
        )
    return found[0]


SHIPPED = "shipped"  # the model reference for models/'s release


def is_folder_ref(ref: str | Path) -> bool:
    """Whether a model reference names a folder: registry tags never hold a slash, so
    anything with one is a path, existing or not, and so is an existing folder."""
    if isinstance(ref, Path):
        return True
    return "/" in ref or os.sep in ref or ref.startswith(".") or Path(ref).is_dir()


def resolve(ref: str | Path) -> Artifact:
    """The one rule for every model reference (service, `tag`, labeler, Ray): "shipped"
    (models/'s release), an artifact folder, or a registry tag (a unique version prefix)
    or "production" (the registry's alias). Always verified."""
    if ref == SHIPPED:
        return verify(shipped())
    if is_folder_ref(ref) and ref != "production":
        return verify(ref)
    from serving.registry import resolve_stored  # BentoML only for stored models

    return resolve_stored(str(ref))


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
        # Artifacts exported before sentence pooling existed pooled windows.
        pooling = w.get("document_pooling", "windows")
        return EngineSettings(int(w["size"]), int(w["stride"]), batch_tokens, pooling)

    def tokenizer(self) -> Tokenizer:
        return Tokenizer.from_file(self.path / "tokenizer.json")

    @property
    def int8_accepted(self) -> bool:
        """Whether the export accepted the int8 graph: its main dev figure within the
        allowed difference of the fp32 graph's on every dev collection."""
        return bool(self.manifest.get("quantization", {}).get("accepted", False))

    def int8_verdict(self) -> str:
        """Why the export accepted or rejected the int8 graph, in words."""
        parity = self.manifest.get("parity", {})
        reason = parity.get("int8_accuracy", {}).get("reason")
        if reason:
            return str(reason)
        # Artifacts exported before the accuracy rule were judged by span agreement.
        return (
            f"it agrees with fp32 on {100 * parity.get('int8_span_agreement', 0):.1f}% of "
            f"spans and {100 * parity.get('int8_label_agreement', 0):.1f}% of labels of the "
            f"parity texts (minimum {100 * parity.get('min_agreement', 0):.0f}%)"
        )

    def precision(self, requested: Precision | Literal["auto"] = "auto") -> Precision:
        """The graph to run: "auto" is int8 where the export accepted it, else fp32."""
        if requested == "auto":
            return "int8" if self.int8_accepted else "fp32"
        if requested == "int8" and "int8" not in self.manifest.get("graphs", {}):
            raise ArtifactError(
                f"{self.path} was exported without an int8 graph: run precision fp32 or auto"
            )
        if requested == "int8" and not self.int8_accepted:
            raise ArtifactError(
                f"the export rejected the int8 graph of {self.path}: {self.int8_verdict()}. "
                "Run the fp32 graph (precision fp32 or auto), or re-export (with readable "
                "dev data, or a larger --max-f1-diff if you accept the loss)"
            )
        return requested

    def graph(self, precision: Precision = "int8") -> Path:
        name = self.manifest.get("graphs", {}).get(precision)
        if name is None:
            raise ArtifactError(
                f"{self.path} has no {precision} graph (it was exported without one); run "
                "precision fp32 or auto"
            )
        return self.path / str(name)


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
    _check_fields(manifest, where)
    recorded: dict[str, str] = manifest.get("files", {})
    bad = [name for name in recorded if not _plain_name(name)]
    if bad:
        raise ArtifactError(
            f"{where} lists files outside the artifact folder ({', '.join(map(repr, bad))}); "
            "an artifact's files sit in its own folder: re-export the artifact"
        )
    graphs = manifest.get("graphs", {})
    for name in (*REQUIRED, *graphs.values()):
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
