"""`POST /reload`: a running service picks up a promoted model without a restart.

A real `bentoml serve` on the production alias (register two versions, promote, reload), and
in process the folder reference, concurrent requests during a swap, and the failure paths."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import bentoml
import httpx
import pytest

from benchmarks.serve import free_port
from serving import registry
from serving.artifact import seal
from serving.client import reload_service
from tests.serving.conftest import Server, import_service, serve
from tests.serving.conftest import isolated_home as home_of
from tests.serving.test_service import TEXT, check_model_headers, running

pytestmark = pytest.mark.filterwarnings(
    # BentoML 1.4 reads `model_fields` from an instance on every request, which pydantic
    # 2.11 deprecates: BentoML's code, harmless, and not ours to change.
    "ignore:Accessing the 'model_fields' attribute on the instance:DeprecationWarning"
)

TOKEN = "reload s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def versioned(tiny_artifact: Path, target: Path, version: str) -> Path:
    """A copy of the tiny artifact under another version. The manifest holds the checksums
    of the other files, not its own, so the copy verifies; the registry tells versions apart
    by the manifest's "version" (same files under a new version is a new registration)."""
    shutil.copytree(tiny_artifact, target)
    set_version(target, version)
    return target


def set_version(artifact: Path, version: str) -> None:
    path = artifact / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["version"] = version
    path.write_text(json.dumps(seal(manifest), indent=2), encoding="utf-8")


def version_of(response: httpx.Response | Any) -> str:
    return str(response.json()["model"]["version"])


# --- a real server on the production alias -------------------------------------------


@pytest.fixture(scope="module")
def registered(tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A BentoML home with v1, v2 and v3 registered and v1 promoted: version -> tag."""
    root = tmp_path_factory.mktemp("reload")
    tags = {}
    with home_of(root / "home"):
        for version in ("reload-v1", "reload-v2", "reload-v3"):
            tags[version] = registry.register(versioned(tiny_artifact, root / version, version))
        registry.promote(tags["reload-v1"])
    return tags | {"home": str(root / "home")}


@pytest.fixture(scope="module")
def server(
    registered: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """`bentoml serve` with no CONFLICT_TAGGER_MODEL (so the production alias) and a token."""
    root = tmp_path_factory.mktemp("reload-serve")
    env = {"CONFLICT_TAGGER_TOKEN": TOKEN, "BENTOML_HOME": registered["home"]}
    with serve(root, env) as running_server:
        yield running_server


def test_promote_then_reload_reaches_the_running_server(
    server: Server, registered: dict[str, str]
) -> None:
    home = Path(registered["home"])
    with httpx.Client(base_url=server.url, timeout=30) as http:
        r = http.post("/tag", json={"text": TEXT}, headers=AUTH)
        assert r.status_code == 200, r.text
        check_model_headers(r, "reload-v1")

        with home_of(home):
            registry.promote(registered["reload-v2"])
        # Promoting moves the alias only: the server answers with v1 until it reloads.
        assert (
            http.post("/tag", json={"text": TEXT}, headers=AUTH).headers["x-model-version"]
            == "reload-v1"
        )

        refused = http.post("/reload")
        assert (refused.status_code, refused.json()["code"]) == (401, "unauthorized")
        assert refused.headers["www-authenticate"].startswith("Bearer")
        with pytest.raises(ValueError, match=r"HTTP 401: the bearer token is wrong"):
            reload_service(server.url, "not the token")

        reply = reload_service(server.url, TOKEN)
        assert reply == {
            "previous": {"name": "conflict-tagger", "version": "reload-v1"},
            "current": {"name": "conflict-tagger", "version": "reload-v2"},
            "changed": True,
            "model_ref": "production",
        }
        r = http.post("/tag", json={"text": TEXT}, headers=AUTH)
        assert r.status_code == 200, r.text
        check_model_headers(r, "reload-v2")
        assert version_of(r) == "reload-v2"
        meta = http.get("/metadata", headers=AUTH)
        assert meta.json()["model"] == {"name": "conflict-tagger", "version": "reload-v2"}
        check_model_headers(meta, "reload-v2")

        # Idempotent: nothing new, nothing swapped. An empty POST with no Content-Type.
        again = http.post("/reload", headers=AUTH)
        assert again.status_code == 200, again.text
        assert again.json()["changed"] is False
        assert (
            again.json()["previous"]
            == again.json()["current"]
            == {
                "name": "conflict-tagger",
                "version": "reload-v2",
            }
        )
        check_model_headers(again, "reload-v2")

        # The alias now names a model damaged in the store: refused, v2 keeps serving.
        with home_of(home):
            registry.promote(registered["reload-v3"])
            stored = Path(bentoml.models.get(registered["reload-v3"]).path)
        with (stored / "labels.json").open("ab") as f:
            f.write(b" ")
        broken = http.post("/reload", headers=AUTH)
        assert broken.status_code == 409, broken.text
        body = broken.json()
        assert body["code"] == "reload_failed"
        assert "'production'" in body["error"] and registered["reload-v3"] in body["error"]
        assert "Still serving conflict-tagger reload-v2" in body["error"]
        assert "models rollback" in body["error"]
        check_model_headers(broken, "reload-v2")
        with pytest.raises(ValueError, match=r"HTTP 409: .*fails verification.*reload_failed"):
            reload_service(f"{server.url}/", TOKEN)
        r = http.post("/tag", json={"text": TEXT}, headers=AUTH)
        assert r.status_code == 200, r.text
        check_model_headers(r, "reload-v2")

        # Rolling back and reloading brings the server back in line with the alias.
        with home_of(home):
            assert registry.rollback() == registered["reload-v2"]
        assert reload_service(server.url, TOKEN)["changed"] is False

    assert server.stop() == 0, server.log_tail()
    assert not server.alive()


def test_client_reports_an_unreachable_service() -> None:
    with pytest.raises(ValueError, match="cannot reach"):
        reload_service(f"http://127.0.0.1:{free_port()}", timeout=5)
    with pytest.raises(ValueError, match="not an http"):
        reload_service("file:///etc/passwd")


# --- in process: an artifact folder as the reference ---------------------------------


@pytest.fixture
def folder(tiny_artifact: Path, tmp_path: Path) -> Path:
    return versioned(tiny_artifact, tmp_path / "artifact", "fold-1")


@pytest.fixture
def folder_service(folder: Path, tmp_path: Path) -> Iterator[ModuleType]:
    with pytest.MonkeyPatch.context() as mp, home_of(tmp_path / "home"):
        mp.setenv("BENTOML_DO_NOT_TRACK", "True")
        yield import_service(mp, str(folder))


def test_reload_is_closed_without_a_token_unless_opened(folder_service: ModuleType) -> None:
    with running(folder_service) as c:
        r = c.post("/reload")
        assert r.status_code == 403, r.text
        assert r.json()["code"] == "reload_closed"
        assert "CONFLICT_TAGGER_TOKEN" in r.json()["error"]
    with running(folder_service, CONFLICT_TAGGER_ALLOW_OPEN_RELOAD="1") as c:
        r = c.post("/reload")
        assert r.status_code == 200, r.text
        assert r.json()["changed"] is False


def test_open_servers_are_told_apart_from_loopback() -> None:
    from serving.service import bind_host, is_loopback

    assert bind_host(["bentoml", "serve", "x", "--host", "127.0.0.1"]) == "127.0.0.1"
    assert bind_host(["bentoml", "serve", "x", "--host=::1"]) == "::1"
    assert not is_loopback(bind_host(["bentoml", "serve", "x"]))  # BentoML's 0.0.0.0
    assert is_loopback("localhost") and is_loopback("[::1]") and not is_loopback("10.0.0.2")


def test_reload_picks_up_a_re_exported_folder(folder_service: ModuleType, folder: Path) -> None:
    with running(folder_service, CONFLICT_TAGGER_TOKEN=TOKEN) as c:
        check_model_headers(c.post("/tag", json={"text": TEXT}, headers=AUTH), "fold-1")
        assert c.post("/reload").status_code == 401
        set_version(folder, "fold-2")
        # No body in any form a client may send one: none, JSON `{}`, curl's form default.
        r = c.post("/reload", headers=AUTH)
        assert r.status_code == 200, r.text
        assert r.json() == {
            "previous": {"name": "conflict-tagger", "version": "fold-1"},
            "current": {"name": "conflict-tagger", "version": "fold-2"},
            "changed": True,
            "model_ref": str(folder),
        }
        check_model_headers(r, "fold-2")
        form = {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}
        for again in (c.post("/reload", json={}, headers=AUTH), c.post("/reload", headers=form)):
            assert (again.status_code, again.json()["changed"]) == (200, False), again.text
        assert c.get("/reload", headers=AUTH).status_code == 405
        assert version_of(c.post("/tag", json={"text": TEXT}, headers=AUTH)) == "fold-2"
        assert c.get("/metadata", headers=AUTH).json()["model"]["version"] == "fold-2"


def test_requests_during_a_reload_see_the_old_or_the_new_model(
    folder_service: ModuleType, folder: Path
) -> None:
    with running(folder_service, CONFLICT_TAGGER_ALLOW_OPEN_RELOAD="1") as c:
        set_version(folder, "fold-2")

        def tag(i: int) -> tuple[int, str]:
            r = c.post("/tag", json={"text": f"{TEXT} Report {i}."})
            return r.status_code, version_of(r)

        with ThreadPoolExecutor(6) as pool:
            answers = pool.map(tag, range(24))
            reloaded = c.post("/reload")
            answers = list(answers)
        assert reloaded.json()["changed"] is True, reloaded.text
        assert all(status == 200 for status, _ in answers), answers
        assert {version for _, version in answers} <= {"fold-1", "fold-2"}
        assert version_of(c.post("/tag", json={"text": TEXT})) == "fold-2"


def test_a_failed_reload_keeps_the_old_model(
    folder_service: ModuleType, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running(folder_service, CONFLICT_TAGGER_ALLOW_OPEN_RELOAD="1") as c:
        # A damaged folder: refused before anything is loaded (409).
        set_version(folder, "fold-2")
        tokenizer = folder / "tokenizer.json"
        original = tokenizer.read_bytes()
        tokenizer.write_bytes(original + b" ")
        r = c.post("/reload")
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "reload_failed"
        assert str(folder) in r.json()["error"] and "fails its checksum" in r.json()["error"]
        assert "Still serving conflict-tagger fold-1" in r.json()["error"]
        check_model_headers(r, "fold-1")
        tokenizer.write_bytes(original)

        # A model that verifies but fails to load (here: the loader itself breaks): 500.
        def broken(*_: object, **__: object) -> None:
            raise RuntimeError("onnxruntime could not create the session")

        monkeypatch.setattr(folder_service, "Tagger", broken)
        r = c.post("/reload")
        assert r.status_code == 500, r.text
        assert r.json()["code"] == "reload_failed"
        assert "failed to load" in r.json()["error"] and "onnxruntime" in r.json()["error"]
        ok = c.post("/tag", json={"text": TEXT})
        assert ok.status_code == 200, ok.text
        assert version_of(ok) == "fold-1"
        check_model_headers(ok, "fold-1")

        monkeypatch.undo()  # fixed: the same reload now goes through
        r = c.post("/reload")
        assert (r.status_code, r.json()["current"]["version"]) == (200, "fold-2"), r.text
