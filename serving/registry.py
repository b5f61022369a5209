"""The model registry: verified artifacts stored as BentoML models, plus a `production` alias.

`register` copies a verified artifact folder into the BentoML model store (found through
BentoML's configured home, so it follows BENTOML_HOME) as a new `conflict-tagger` version;
the artifact's own version, config hash, encoder and schema become labels, its metrics and
checksums metadata. Registering the same artifact version again returns the existing tag.

`promote` points the `production` alias at a tag, `rollback` undoes the last promotion,
and every change is logged. The alias state is one JSON file,
`<bentoml_home>/conflict-tagger/aliases.json`, replaced atomically. `resolve` verifies the
stored files on every load, so a model damaged in the store is never served. Nothing here
overwrites a stored version; only `delete` removes one, and never the production model.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from serving.artifact import MANIFEST, Artifact, ArtifactError, verify
from serving.artifact import resolve as resolve_any

with warnings.catch_warnings():
    # bentoml 1.4 builds a pathspec pattern at import time that recent pathspec releases
    # deprecate; silenced here only, so runs with warnings-as-errors can import us.
    warnings.filterwarnings("ignore", "GitWildMatchPattern", DeprecationWarning)
    import bentoml.models
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models import Model, ModelStore
    from bentoml.exceptions import BentoMLException, NotFound

NAME = "conflict-tagger"
PRODUCTION = "production"
ALIASES = "aliases.json"
LOCK = "registry.lock"


class RegistryError(ValueError):
    """A registry operation that cannot be done; the message names the tag or path and
    says what to do instead."""


@dataclass(frozen=True)
class Registration:
    tag: str
    new: bool  # False: this artifact version was already in the store under `tag`


@dataclass(frozen=True)
class ModelEntry:
    tag: str
    artifact_version: str
    created: str  # when the artifact was exported (its manifest)
    registered: str  # when it entered the store
    size: int  # bytes
    production: bool


class Event(BaseModel):
    action: Literal["promote", "rollback", "delete"]
    tag: str
    at: str


class AliasState(BaseModel):
    """`stack` holds the promoted tags, current last: rollback pops it."""

    format_version: int = 1
    production: str | None = None
    stack: list[str] = Field(default_factory=list)
    history: list[Event] = Field(default_factory=list)


# --- where things live ---------------------------------------------------------------


def home() -> Path:
    """BentoML's home folder: $BENTOML_HOME, else ~/bentoml (read once per process)."""
    return Path(BentoMLContainer.bentoml_home.get())


def _store() -> ModelStore:
    # Derived from the home on every call (BentoML's default layout), so the store and the
    # alias file can never point at two different homes.
    return ModelStore(home() / "models")


def aliases_path() -> Path:
    return home() / NAME / ALIASES


@contextmanager
def _locked() -> Iterator[None]:
    """One registry write at a time, across processes: each reads the alias file, changes
    it and writes it back, so two at once could lose an update or leave `production` on a
    version the other deleted. An advisory lock on a file beside the alias file; the
    operating system drops it if the holder dies."""
    path = home() / NAME / LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- registering ---------------------------------------------------------------------


def register(artifact_dir: Path | str) -> str:
    """Verify an artifact folder and store it; return its tag ("conflict-tagger:<version>")."""
    return register_artifact(artifact_dir).tag


def register_artifact(artifact_dir: Path | str) -> Registration:
    """Like `register`, but also says whether a new version was created."""
    try:
        artifact = verify(artifact_dir)
    except ArtifactError as err:
        raise RegistryError(f"refusing to register {artifact_dir}: {err}") from err
    _check_names(artifact)
    with _locked():
        return _register(artifact)


def _register(artifact: Artifact) -> Registration:
    existing = _find_version(artifact.version)
    if existing is not None:
        _check_same_files(existing, artifact)
        return Registration(str(existing.tag), new=False)
    return Registration(_create(artifact), new=True)


def _check_names(artifact: Artifact) -> None:
    if artifact.manifest.get("name") != NAME:
        raise RegistryError(
            f"{artifact.path} holds model {artifact.manifest.get('name')!r}, not {NAME!r}; "
            "register only artifacts exported by `conflict-tagger export`"
        )
    for name in artifact.manifest["files"]:
        # The names become paths in the store: keep every file inside the model folder.
        pure = PurePosixPath(name)
        if pure.is_absolute() or ".." in pure.parts:
            raise RegistryError(
                f"{artifact.path / MANIFEST} lists the file {name!r} outside the artifact "
                "folder; re-export the artifact"
            )


def _find_version(version: str) -> Model | None:
    for model in _models():
        if model.info.labels.get("artifact_version") == version:
            return model
    return None


def _check_same_files(model: Model, artifact: Artifact) -> None:
    if model.info.metadata.get("files") != artifact.manifest["files"]:
        raise RegistryError(
            f"artifact version {artifact.version} is already registered as {model.tag} "
            f"with different files than {artifact.path}; versions must be unique: re-export "
            "the artifact to give it a new version"
        )


def _create(artifact: Artifact) -> str:
    store = _store()
    with bentoml.models.create(
        NAME, labels=_labels(artifact), metadata=_metadata(artifact), _model_store=store
    ) as model:
        for name in [*artifact.manifest["files"], MANIFEST]:
            target = Path(model.path) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(artifact.path / name, target)
    # `model.path` is still the temporary folder here: saving copies it into the store.
    tag = str(model.tag)
    try:
        verify(store.get(tag).path)
    except ArtifactError as err:
        store.delete(tag)
        raise RegistryError(f"the copy of {artifact.path} in the store failed: {err}") from err
    return tag


def _labels(artifact: Artifact) -> dict[str, str]:
    m = artifact.manifest
    return {
        "artifact_version": artifact.version,
        "config_sha256": str(m["training"]["config_sha256"])[:12],
        "base_encoder": str(m["base_encoder"]["name"]),
        "schema_version": str(m["schema_version"]),
    }


def _metadata(artifact: Artifact) -> dict[str, Any]:
    m = artifact.manifest
    keys = ("created", "metrics", "thresholds", "windows", "code_version", "licences", "files")
    picked = {k: m.get(k) for k in keys}
    picked |= {"artifact_version": artifact.version, "training": m.get("training")}
    return {k: _without_none(v) for k, v in picked.items() if v is not None}


def _without_none(value: Any) -> Any:
    # BentoML's metadata validator rejects None anywhere; an absent key says the same.
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value if v is not None]
    return value


# --- listing and resolving -----------------------------------------------------------


def _models() -> list[Model]:
    try:
        return sorted(_store().list(NAME), key=lambda m: m.creation_time)
    except NotFound:
        return []


def list_models() -> list[ModelEntry]:
    """Every stored version, oldest first."""
    current = production()
    return [
        ModelEntry(
            tag=str(m.tag),
            artifact_version=m.info.labels.get("artifact_version", "?"),
            created=str(m.info.metadata.get("created", "?")),
            registered=m.creation_time.isoformat(timespec="seconds"),
            size=m.file_size,
            production=str(m.tag) == current,
        )
        for m in _models()
    ]


def _get(ref: str) -> Model:
    """A stored model by tag, version or unique version prefix."""
    name, sep, version = ref.strip().lower().rpartition(":")
    if sep and name != NAME:
        raise RegistryError(f"{ref!r} is not a {NAME} tag; use {NAME}:VERSION")
    if version == NAME:
        version = "latest"  # the bare name means the newest version, as in BentoML
    try:
        return _store().get(f"{NAME}:{version}")
    except NotFound:
        raise RegistryError(
            f"no model {ref!r} in the store at {home() / 'models'}; see `{NAME} models list`"
        ) from None
    except (BentoMLException, ValueError) as err:
        # Several versions share the prefix, or the text is not a valid tag at all.
        raise RegistryError(f"{ref!r} names no single model ({err}); give the full tag") from None


def resolve(ref: str | Path) -> Artifact:
    """`serving.artifact.resolve` (the one rule for model references), its errors as
    RegistryError."""
    try:
        return resolve_any(ref)
    except ArtifactError as err:
        raise RegistryError(str(err)) from err


def resolve_stored(ref: str) -> Artifact:
    """The verified stored model for "production" or a tag (or unique version prefix)."""
    if ref == PRODUCTION:
        ref = _production_tag()
    return verified_model(_get(ref))


def _production_tag() -> str:
    tag = production()
    if tag is None:
        raise RegistryError(
            f"no model is promoted to production in {home()}; run `{NAME} models promote TAG` first"
        )
    return tag


def verified_model(model: Model) -> Artifact:
    """A stored model's artifact, checksums verified and its manifest matched against the
    checksums recorded at registration."""
    try:
        artifact = verify(model.path)
    except ArtifactError as err:
        raise RegistryError(
            f"{model.tag} in the model store fails verification: {err}. Do not serve it: "
            f"delete it (`{NAME} models delete {model.tag}`) and register the artifact again"
        ) from err
    if artifact.manifest["files"] != model.info.metadata.get("files"):
        raise RegistryError(
            f"{model.tag}: {Path(model.path) / MANIFEST} no longer matches the checksums "
            "recorded at registration; delete the model and register the artifact again"
        )
    return artifact


# --- the production alias ------------------------------------------------------------


def _read_state() -> AliasState:
    path = aliases_path()
    if not path.is_file():
        return AliasState()
    try:
        return AliasState.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as err:
        raise RegistryError(
            f"{path} is damaged ({err.error_count()} problem(s)); fix or remove it and "
            f"promote again with `{NAME} models promote TAG`"
        ) from None


def _write_state(state: AliasState) -> None:
    path = aliases_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename over it: a crash leaves the old file or the new.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".aliases-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(state.model_dump_json(indent=2) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _log(state: AliasState, action: Literal["promote", "rollback", "delete"], tag: str) -> None:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    state.history.append(Event(action=action, tag=tag, at=now))


def production() -> str | None:
    """The tag the production alias points at, if any."""
    return _read_state().production


def history() -> list[Event]:
    """Every promote, rollback and delete, oldest first."""
    return list(_read_state().history)


def promote(tag: str) -> str:
    """Point production at a stored model (verified first); return its full tag."""
    with _locked():
        return _promote(tag)


def _promote(tag: str) -> str:
    model = _get(tag)
    verified_model(model)
    full = str(model.tag)
    state = _read_state()
    if state.production == full:
        return full
    state.stack.append(full)
    state.production = full
    _log(state, "promote", full)
    _write_state(state)
    return full


def rollback() -> str:
    """Point production back at the previously promoted tag; return it."""
    with _locked():
        return _rollback()


def _rollback() -> str:
    state = _read_state()
    if len(state.stack) < 2:
        raise RegistryError(
            f"nothing to roll back to: {aliases_path()} records no promotion before "
            f"{state.production or 'the current state'}; promote a tag with "
            f"`{NAME} models promote TAG`"
        )
    target = state.stack[-2]
    verified_model(_get(target))
    state.stack.pop()
    state.production = target
    _log(state, "rollback", target)
    _write_state(state)
    return target


def delete(tag: str) -> str:
    """Remove one stored version (never the production one); return its full tag."""
    with _locked():
        return _delete(tag)


def _delete(tag: str) -> str:
    full = str(_get(tag).tag)
    state = _read_state()
    if state.production == full:
        raise RegistryError(
            f"{full} is the production model and cannot be deleted; promote another first "
            f"(`{NAME} models promote TAG`), then delete it"
        )
    _store().delete(full)
    # Rollback must never land on a deleted version: drop it and merge repeats it leaves.
    kept = [t for t in state.stack if t != full]
    state.stack = [t for i, t in enumerate(kept) if i == 0 or kept[i - 1] != t]
    _log(state, "delete", full)
    _write_state(state)
    return full
