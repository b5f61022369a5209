"""The model registry: register, list, show, promote, rollback and delete in a temporary
BentoML home, with artifacts made of dummy bytes (the registry never runs the graphs)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bentoml._internal.configuration.containers import BentoMLContainer
from typer.testing import CliRunner

from serving import registry
from serving.artifact import FORMAT_VERSION, GRAPHS, MANIFEST, REQUIRED, expected_labels, seal
from serving.registry import RegistryError
from training.cli_models import models_app

FILES = (*REQUIRED, GRAPHS["int8"])

runner = CliRunner()


def make_artifact(root: Path, version: str, encoder: str = "all-MiniLM-L6-v2") -> Path:
    """An artifact folder whose checksums and labels pass `verify`."""
    folder = root / version
    folder.mkdir(parents=True)
    for name in FILES:
        body = json.dumps(expected_labels()) if name == "labels.json" else f"{version} {name}"
        (folder / name).write_text(body, encoding="utf-8")
    files = {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in FILES}
    manifest = {
        "format_version": FORMAT_VERSION,
        "name": "conflict-tagger",
        "version": version,
        "created": "2026-11-25T11:29:00+00:00",
        "code_version": {"package": "0.1.0", "commit": None},
        "schema_version": expected_labels()["schema_version"],
        "base_encoder": {"name": encoder},
        "training": {"config_sha256": "ab" * 32, "data_fingerprint": "fp", "epoch": 3},
        "metrics": {"re3d_conflibert": 0.71},
        "windows": {"size": 128, "stride": 96},
        "thresholds": {"event": 0.5},
        "licences": ["Apache-2.0"],
        "graphs": dict(GRAPHS),
        "files": files,
    }
    (folder / MANIFEST).write_text(json.dumps(seal(manifest)), encoding="utf-8")
    return folder


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh BentoML home. BentoML caches its home on first use, so an env var set now
    may come too late: override the container's provider instead (the registry derives
    the store and the alias file from it). Usage tracking is off: no network in tests."""
    from bentoml._internal.utils.analytics.usage_stats import do_not_track

    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "True")
    do_not_track.cache_clear()
    root = tmp_path / "bentoml"
    with BentoMLContainer.bentoml_home.patch(str(root)):
        yield root
    do_not_track.cache_clear()


@pytest.fixture
def arts(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


def test_register_list_and_resolve(home: Path, arts: Path) -> None:
    src = make_artifact(arts, "20261125t112900-1a2b3c4d")
    tag = registry.register(src)
    assert tag.startswith("conflict-tagger:")
    (entry,) = registry.list_models()
    assert (entry.tag, entry.artifact_version, entry.production) == (tag, src.name, False)
    assert entry.size > 0
    artifact = registry.resolve(tag)
    assert artifact.path.is_relative_to(home / "models")
    assert artifact.version == src.name
    assert registry.resolve(tag.split(":")[1][:6]).path == artifact.path  # a unique prefix
    assert registry.resolve(src).path == src  # a folder

    model = registry._store().get(tag)
    assert model.info.labels == {
        "artifact_version": src.name,
        "config_sha256": "abababababab",
        "base_encoder": "all-MiniLM-L6-v2",
        "schema_version": str(expected_labels()["schema_version"]),
    }
    assert model.info.metadata["code_version"] == {"package": "0.1.0"}  # None dropped
    assert set(model.info.metadata["files"]) == set(FILES)


def test_register_twice_keeps_one_version(home: Path, arts: Path) -> None:
    src = make_artifact(arts, "v1")
    first = registry.register_artifact(src)
    again = registry.register_artifact(src)
    assert first.new and not again.new and again.tag == first.tag
    assert len(registry.list_models()) == 1


def test_same_version_with_other_files_is_refused(home: Path, arts: Path) -> None:
    registry.register(make_artifact(arts, "v1"))
    other = make_artifact(arts / "elsewhere", "v1", encoder="other-encoder")
    (other / "README.md").write_text("changed card")
    manifest = json.loads((other / MANIFEST).read_text())
    manifest["files"]["README.md"] = hashlib.sha256(b"changed card").hexdigest()
    (other / MANIFEST).write_text(json.dumps(seal(manifest)))
    with pytest.raises(RegistryError, match=r"already registered .* different files"):
        registry.register(other)


def test_promote_rollback_and_history(home: Path, arts: Path) -> None:
    a = registry.register(make_artifact(arts, "a"))
    b = registry.register(make_artifact(arts, "b"))
    with pytest.raises(RegistryError, match="no model is promoted"):
        registry.resolve("production")
    assert registry.promote(a) == a
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        registry.rollback()
    registry.promote(b)
    assert registry.resolve("production").version == "b"
    assert registry.rollback() == a
    assert registry.production() == a
    assert [e.action for e in registry.history()] == ["promote", "promote", "rollback"]
    state = json.loads((home / "conflict-tagger" / "aliases.json").read_text())
    assert state["production"] == a
    assert not list((home / "conflict-tagger").glob(".aliases-*"))  # no temp file left


def test_rollback_without_history_fails_clearly(home: Path) -> None:
    with pytest.raises(RegistryError, match=r"nothing to roll back to.*promote"):
        registry.rollback()


def test_tampered_artifact_is_refused_at_register(home: Path, arts: Path) -> None:
    src = make_artifact(arts, "v1")
    (src / "model.int8.onnx").write_bytes(b"tampered")
    with pytest.raises(RegistryError, match=r"refusing to register .*model.int8.onnx fails"):
        registry.register(src)
    assert registry.list_models() == []


def test_tampered_store_file_is_refused_at_resolve(home: Path, arts: Path) -> None:
    tag = registry.register(make_artifact(arts, "v1"))
    (Path(registry._store().get(tag).path) / "model.onnx").write_bytes(b"tampered")
    with pytest.raises(RegistryError, match=rf"{tag} in the model store fails verification"):
        registry.resolve(tag)
    with pytest.raises(RegistryError, match="fails verification"):
        registry.promote(tag)


def test_delete_refuses_production(home: Path, arts: Path) -> None:
    a = registry.register(make_artifact(arts, "a"))
    b = registry.register(make_artifact(arts, "b"))
    registry.promote(a)
    registry.promote(b)
    with pytest.raises(RegistryError, match=r"is the production model.*promote another"):
        registry.delete(b)
    assert registry.delete(a) == a
    assert [e.tag for e in registry.list_models()] == [b]
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        registry.rollback()  # the deleted version is no rollback target
    with pytest.raises(RegistryError, match="no model"):
        registry.resolve(a)


def test_unknown_refs_are_clear_errors(home: Path) -> None:
    with pytest.raises(RegistryError, match=r"no model 'conflict-tagger:nope'.*models list"):
        registry.resolve("conflict-tagger:nope")
    with pytest.raises(RegistryError, match="not a conflict-tagger tag"):
        registry.resolve("other:v1")


def test_cli_commands(home: Path, arts: Path) -> None:
    src = make_artifact(arts, "v1")
    ok = runner.invoke(models_app, ["register", str(src)])
    assert ok.exit_code == 0, ok.output
    tag = registry.list_models()[0].tag
    assert f"registered {src} as {tag}" in ok.output
    assert "already registered" in runner.invoke(models_app, ["register", str(src)]).output

    listed = runner.invoke(models_app, ["list"])
    assert listed.exit_code == 0 and tag in listed.output
    assert runner.invoke(models_app, ["promote", tag]).exit_code == 0
    shown = runner.invoke(models_app, ["show", "production"])
    assert shown.exit_code == 0, shown.output
    assert "version:        v1" in shown.output and "production:     yes" in shown.output

    for args, message in [
        (["rollback"], "nothing to roll back to"),
        (["delete", tag], "is the production model"),
        (["register", str(arts / "missing")], "is not a model artifact"),
        (["show", "conflict-tagger:nope"], "no model"),
    ]:
        failed = runner.invoke(models_app, args)
        assert failed.exit_code == 1, (args, failed.output)
        assert message in failed.stderr


def test_home_follows_bentoml_home_env(tmp_path: Path) -> None:
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "elsewhere")}
    code = "from serving.registry import aliases_path; print(aliases_path())"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == str(tmp_path / "elsewhere" / "conflict-tagger" / "aliases.json")


PROMOTER = """
import sys
from serving import registry
a, b, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
for _ in range(rounds):
    registry.promote(a)
    registry.promote(b)
"""


def test_concurrent_promotions_lose_no_update(home: Path, arts: Path) -> None:
    """Processes promoting at once: each call moves the alias away from a tag only its own
    process promotes, so every call must be one event in the history; without the lock,
    read-modify-write races drop some."""
    import os
    import subprocess
    import sys

    tags = [registry.register(make_artifact(arts, f"v{i}")) for i in range(6)]
    env = os.environ | {"BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "True"}
    rounds = 12
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PROMOTER, tags[2 * i], tags[2 * i + 1], str(rounds)], env=env
        )
        for i in range(3)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0]
    events = registry.history()
    assert len(events) == 3 * 2 * rounds
    assert len(registry._read_state().stack) == 3 * 2 * rounds


def test_an_edited_threshold_in_a_registered_model_fails_naming_the_field(
    home: Path, arts: Path
) -> None:
    tag = registry.register(make_artifact(arts, "v1"))
    stored = registry.resolve(tag).path / MANIFEST
    manifest = json.loads(stored.read_text())
    manifest["thresholds"]["event"] = 0.05
    stored.write_text(json.dumps(manifest))
    with pytest.raises(RegistryError, match=r"manifest field\(s\) thresholds differ"):
        registry.resolve(tag)
