"""The HTTP service: its contract in process (BentoML's ASGI app under Starlette's
TestClient), which model it declares for `bentoml build`, a real `bentoml serve`
subprocess, the demo page in headless Chromium, and `bentoml build` itself."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from benchmarks.serve import OUR_ENV, free_port
from serving import registry
from serving.guard import RequestGuard
from serving.result import Result
from serving.schema import label_lists
from tests.serving.conftest import REPO, Server, import_service, isolated_home, serve

pytestmark = pytest.mark.filterwarnings(
    # BentoML 1.4 reads `model_fields` from an instance on every request, which pydantic
    # 2.11 deprecates: BentoML's code, harmless, and not ours to change.
    "ignore:Accessing the 'model_fields' attribute on the instance:DeprecationWarning"
)

TOKEN = "s3cret token"  # a space inside: tokens are opaque strings
LIMITS = {
    "CONFLICT_TAGGER_MAX_CHARS": "500",
    "CONFLICT_TAGGER_MAX_DOCS": "3",
    "CONFLICT_TAGGER_MAX_TOTAL_CHARS": "1000",
    "CONFLICT_TAGGER_MAX_TOKENS": "600",
}
TEXT = "Rebels fired a rocket at Camp Alpha on 3 May, killing two soldiers."
OTHER = "Police arrested forty protesters in Lagos. The army shelled the town."
ROUTES = ("/tag", "/tag_batch", "/tag_adaptive")


@pytest.fixture(scope="module")
def service(artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """serving.service imported for the artifact folder, in an empty BentoML home."""
    with pytest.MonkeyPatch.context() as mp, isolated_home(tmp_path_factory.mktemp("home")):
        mp.setenv("BENTOML_DO_NOT_TRACK", "True")
        yield import_service(mp, str(artifact))


@contextmanager
def running(service: ModuleType, **env: str) -> Iterator[TestClient]:
    """The service's ASGI app, started (lifespan: the model loads) with `env` set."""
    # The module, not the `service` decorator that shadows it in the package namespace;
    # serving.service has imported it (quietly) by now.
    sdk = importlib.import_module("_bentoml_sdk.service")

    with pytest.MonkeyPatch.context() as mp:
        # BentoML registers its Prometheus metrics in the global registry once per app, so
        # a second app in one process fails to start; /metrics is checked on the real server.
        off = {"services": {"ConflictTagger": {"metrics": {"enabled": False}}}}
        mp.setenv("BENTOML_CONFIG_OVERRIDES", json.dumps(off))
        for name in ("CONFLICT_TAGGER_TOKEN", "CONFLICT_TAGGER_ALLOW_OPEN_RELOAD",
                     "CONFLICT_TAGGER_MAX_WAIT_S", *LIMITS):  # fmt: skip
            mp.delenv(name, raising=False)
        for name, value in env.items():
            mp.setenv(name, value)
        app = service.ConflictTagger.to_asgi()
        # BentoML keeps the running service instance in a process global (what
        # `bentoml.get_current_service()` returns, as a worker has one) and clears it when
        # an app stops: give it back to the app that was running before this one.
        outer = sdk._current_service
        try:
            with TestClient(app, raise_server_exceptions=False) as client:
                yield client
        finally:
            sdk.set_current_service(outer)


@pytest.fixture(scope="module")
def client(service: ModuleType) -> Iterator[TestClient]:
    with running(service, **LIMITS) as c:
        yield c


@pytest.fixture
def secured(service: ModuleType) -> Iterator[TestClient]:
    with running(service, CONFLICT_TAGGER_TOKEN=TOKEN, **LIMITS) as c:
        yield c


def manifest(artifact: Path) -> dict[str, Any]:
    return dict(json.loads((artifact / "manifest.json").read_text()))


def check_result(result: Result, text: str, version: str) -> None:
    assert (result.model.name, result.model.version) == ("conflict-tagger", version)
    for span in [*result.entities, *result.roles]:
        assert text[span.start : span.end] == span.text


def check_model_headers(response: httpx.Response, version: str) -> None:
    assert response.headers["x-model-name"] == "conflict-tagger"
    assert response.headers["x-model-version"] == version


# --- the contract, in process --------------------------------------------------------


def test_tag(client: TestClient, artifact: Path) -> None:
    version = manifest(artifact)["version"]
    r = client.post("/tag", json={"text": TEXT})
    assert r.status_code == 200, r.text
    check_result(Result.model_validate(r.json()), TEXT, version)
    check_model_headers(r, version)


def test_tag_batch_keeps_input_order(client: TestClient, artifact: Path) -> None:
    version = manifest(artifact)["version"]
    r = client.post("/tag_batch", json={"texts": [TEXT, OTHER]})
    assert r.status_code == 200, r.text
    results = [Result.model_validate(x) for x in r.json()["results"]]
    assert len(results) == 2
    for result, text in zip(results, [TEXT, OTHER], strict=True):
        check_result(result, text, version)


def test_every_route_gives_the_same_result(client: TestClient) -> None:
    one = client.post("/tag", json={"text": OTHER}).json()
    assert client.post("/tag_batch", json={"texts": [OTHER]}).json()["results"] == [one]
    assert client.post("/tag_adaptive", json={"texts": [OTHER]}).json() == [one]


def test_adaptive_batching_serves_concurrent_clients(client: TestClient, artifact: Path) -> None:
    version = manifest(artifact)["version"]
    texts = [f"{TEXT} Report {i}." for i in range(12)]

    def ask(text: str) -> tuple[int, Any]:
        r = client.post("/tag_adaptive", json={"texts": [text]})
        return r.status_code, r.json()

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(ask, texts))
    for text, (status, body) in zip(texts, answers, strict=True):
        assert status == 200, body
        (result,) = [Result.model_validate(x) for x in body]
        check_result(result, text, version)  # each client gets its own document back


def test_metadata(client: TestClient, artifact: Path) -> None:
    m = manifest(artifact)
    r = client.get("/metadata")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == {"name": "conflict-tagger", "version": m["version"]}
    assert body["labels"] == label_lists()
    for key in ("metrics", "thresholds", "windows", "licences"):
        assert body[key] == m[key], key
    assert "dev" in body["metrics"]
    assert body["limits"] == {
        "max_chars": 500, "max_docs": 3, "max_total_chars": 1000, "max_tokens": 600,
        "max_tokens_per_char": 0.5, "max_wait_s": 10.0, "call_tokens": 16_384,
    }  # fmt: skip
    queue = body["queue"]
    assert queue.pop("tokens_per_s") > 100  # measured on the calls so far, or the assumed rate
    assert queue == {"waiting_tokens": 0, "skipped_cancelled": 0, "thread_restarts": 0}
    check_model_headers(r, m["version"])


def test_openapi_lists_the_routes_and_labels(client: TestClient) -> None:
    spec = client.get("/docs.json").json()
    assert {"/tag", "/tag_batch", "/tag_adaptive"} <= set(spec["paths"])
    assert "WEAPON" in json.dumps(spec)  # labels are enums: the schema lists them


def test_bentoml_probes(client: TestClient) -> None:
    # /metrics: on the real server (in process, metrics are off; see `running`).
    for path in ("/livez", "/healthz", "/readyz"):
        assert client.get(path).status_code == 200, path


def test_demo_page_is_self_contained(client: TestClient) -> None:
    for path in ("/demo", "/demo/"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in r.headers["content-security-policy"]
    html = r.text
    assert '<textarea id="text"' in html and "Gunmen from the Sahel" in html
    assert not re.search(r"https?://", html), "the page must not load anything from elsewhere"


# --- bad input: always a 4xx that says what to do ------------------------------------

JSON = {"content-type": "application/json"}
LONG = "a" * 501  # over LIMITS
BAD_INPUT = [
    # route, body, headers, status, code, field
    ("/tag", b'{"text": "abc"', JSON, 400, "invalid_json", None),
    ("/tag", b"", JSON, 400, "invalid_json", None),
    ("/tag", b'{"text": "x"} {}', JSON, 400, "invalid_json", None),
    ("/tag", b"[" * 1000 + b"]" * 1000, JSON, 400, "invalid_json", None),
    ("/tag", b'{"text": "\\ud800 lone surrogate"}', JSON, 400, "invalid_json", None),
    ("/tag", b'\xff\xfe{"text": "x"}', JSON, 400, "invalid_utf8", None),
    ("/tag", '{"text": "café"}'.encode("latin-1"), JSON, 400, "invalid_utf8", None),
    ("/tag", b'["x"]', JSON, 422, "wrong_type", None),
    ("/tag", b'"just a string"', JSON, 422, "wrong_type", None),
    ("/tag", b'{"text": 5}', JSON, 422, "wrong_type", "text"),
    ("/tag", b'{"text": null}', JSON, 422, "wrong_type", "text"),
    ("/tag", b'{"text": ["x"]}', JSON, 422, "wrong_type", "text"),
    ("/tag", b"{}", JSON, 422, "missing_field", "text"),
    ("/tag", b'{"texts": ["x"]}', JSON, 422, "missing_field", "text"),
    ("/tag", b'{"text": "x", "lang": "en"}', JSON, 422, "unknown_field", "lang"),
    ("/tag", b'{"text": ""}', JSON, 422, "empty_text", "text"),
    ("/tag", b'{"text": " \\n\\t\\u3000 "}', JSON, 422, "empty_text", "text"),
    ("/tag", json.dumps({"text": LONG}).encode(), JSON, 413, "text_too_long", "text"),
    ("/tag", b'{"text": "' + b"a" * 8000 + b'"}', JSON, 413, "body_too_large", None),
    # Within every character limit, but a token for each character: refused before the model.
    ("/tag_batch", json.dumps({"texts": ["a!" * 200, "b." * 200]}).encode(), JSON, 413,
     "too_many_tokens", "texts"),
    # Within the token limit too, but a token a character (news prose: 0.2) past 256 tokens.
    ("/tag", json.dumps({"text": "x!" * 150}).encode(), JSON, 413, "too_many_tokens", "text"),
    ("/tag_batch", b'{"texts": "x"}', JSON, 422, "wrong_type", "texts"),
    ("/tag_batch", b'{"texts": ["x", 1]}', JSON, 422, "wrong_type", "texts[1]"),
    ("/tag_batch", b'{"text": "x"}', JSON, 422, "missing_field", "texts"),
    ("/tag_batch", b'{"texts": []}', JSON, 422, "no_texts", "texts"),
    ("/tag_batch", b'{"texts": ["x", "  "]}', JSON, 422, "empty_text", "texts[1]"),
    ("/tag_batch", json.dumps({"texts": ["a"] * 4}).encode(), JSON, 413, "too_many_texts",
     "texts"),
    ("/tag_batch", json.dumps({"texts": ["x", LONG]}).encode(), JSON, 413, "text_too_long",
     "texts[1]"),
    ("/tag_batch", json.dumps({"texts": ["b" * 400] * 3}).encode(), JSON, 413, "too_much_text",
     "texts"),
    ("/tag_adaptive", json.dumps({"texts": ["b" * 400] * 3}).encode(), JSON, 413,
     "too_much_text", "texts"),
    ("/tag_adaptive", b'{"texts": [""]}', JSON, 422, "empty_text", "texts[0]"),
    ("/tag_adaptive", json.dumps({"texts": ["a"] * 4}).encode(), JSON, 413, "too_many_texts",
     "texts"),
    ("/tag_adaptive", b"{", JSON, 400, "invalid_json", None),
    ("/tag", b'{"text": "x"}', {"content-type": "multipart/form-data; boundary=b"}, 415,
     "unsupported_media_type", "Content-Type"),
    ("/tag", b'{"text": "x"}', {"content-type": "application/vnd.bentoml+pickle"}, 415,
     "unsupported_media_type", "Content-Type"),
    ("/tag", b'{"text": "x"}', {"content-type": "application/json; charset=latin-1"}, 415,
     "unsupported_media_type", "Content-Type"),
    ("/tag", b'{"text": "x"}', {**JSON, "content-encoding": "gzip"}, 415,
     "unsupported_media_type", "Content-Type"),
]  # fmt: skip


@pytest.mark.parametrize(("route", "body", "headers", "status", "code", "field"), BAD_INPUT)
def test_bad_input_is_a_clear_4xx(
    client: TestClient,
    artifact: Path,
    route: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    code: str,
    field: str | None,
) -> None:
    r = client.post(route, content=body, headers=headers)
    assert r.status_code == status, r.text
    error = r.json()
    assert (error["code"], error["field"]) == (code, field)
    assert isinstance(error["error"], str) and len(error["error"]) > 20
    if field is not None:
        assert field in error["error"]  # the message names the field
    check_model_headers(r, manifest(artifact)["version"])


def test_a_full_queue_sheds_load_with_503_and_retry_after(
    service: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running(service, CONFLICT_TAGGER_MAX_WAIT_S="10") as c:
        monkeypatch.setattr(RequestGuard, "expected_wait", lambda _: 13.2)
        r = c.post("/tag", json={"text": TEXT})
        assert r.status_code == 503, r.text
        # retry once the wait is back under the limit: 13.2 - 10 s, rounded up
        assert r.json()["code"] == "overloaded" and r.headers["retry-after"] == "4"
        assert c.get("/livez").status_code == 200
        monkeypatch.setattr(RequestGuard, "expected_wait", lambda _: 9.9)
        assert c.post("/tag", json={"text": TEXT}).status_code == 200


def test_escaped_emoji_within_the_character_limit_are_accepted(client: TestClient) -> None:
    # 500 characters (the limit), each written as a 12-byte surrogate-pair escape.
    text = "\U0001f600" * 500
    body = json.dumps({"text": text}).encode()  # ensure_ascii: "\\ud83d\\ude00"
    assert len(body) > 6 * 500 + 8 + 1024  # over the allowance that counted 6 bytes a char
    r = client.post("/tag", content=body, headers=JSON)
    assert r.status_code == 200, r.text


def test_streamed_body_over_the_limit_is_cut_off(client: TestClient) -> None:
    # No Content-Length (chunked): the guard counts while it reads and stops at the limit.
    chunks = iter([b'{"text": "', *([b"a" * 1000] * 50), b'"}'])
    r = client.post("/tag", content=chunks, headers=JSON)
    assert (r.status_code, r.json()["code"]) == (413, "body_too_large")


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json; charset=UTF-8", "text/plain", "application/x-www-form-urlencoded"],
)
def test_json_under_other_content_types_is_accepted(
    client: TestClient, content_type: str | None
) -> None:
    # `curl -d` labels JSON as a form; what matters is that the body is JSON.
    headers = {"content-type": content_type} if content_type else {}
    body = json.dumps({"text": TEXT}).encode()
    r = client.post("/tag", content=body, headers=headers)
    assert r.status_code == 200, r.text


def test_wrong_methods_and_paths_are_4xx(client: TestClient) -> None:
    assert client.get("/tag").status_code == 405
    assert client.post("/metadata").status_code == 405
    assert client.get("/nope").status_code == 404


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
request_bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"text": json_values | st.text(max_size=80)}).map(
        lambda v: json.dumps(v).encode()
    ),
    st.fixed_dictionaries({"texts": st.lists(st.text(max_size=60), max_size=4)}).map(
        lambda v: json.dumps(v, ensure_ascii=False).encode()
    ),
)


@given(route=st.sampled_from(ROUTES), body=request_bodies)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_request_body_gets_a_server_error(client: TestClient, route: str, body: bytes) -> None:
    r = client.post(route, content=body, headers=JSON)
    assert r.status_code < 500, (body, r.text)
    if r.status_code != 200:
        assert r.json()["code"], r.text


# --- authentication ------------------------------------------------------------------

PROTECTED = [
    ("POST", "/tag"),
    ("POST", "/tag_batch"),
    ("POST", "/tag_adaptive"),
    ("GET", "/metadata"),
    ("GET", "/metrics"),
    ("GET", "/docs.json"),
    ("GET", "/schema.json"),
    ("GET", "/"),
]


def test_token_guards_everything_but_probes_and_the_demo(secured: TestClient) -> None:
    for method, path in PROTECTED:
        r = secured.request(method, path, json={"text": TEXT})
        assert r.status_code == 401, (method, path, r.text)
        assert r.json()["code"] == "unauthorized"
        assert "Authorization: Bearer" in r.json()["error"]
        assert r.headers["www-authenticate"].startswith("Bearer")
    for path in ("/livez", "/healthz", "/readyz", "/demo", "/demo/"):
        assert secured.get(path).status_code == 200, path


def test_the_right_token_opens_the_routes(secured: TestClient) -> None:
    for scheme in ("Bearer", "bearer"):
        auth = {"Authorization": f"{scheme} {TOKEN}"}
        assert secured.post("/tag", json={"text": TEXT}, headers=auth).status_code == 200
        for path in ("/metadata", "/docs.json", "/"):
            assert secured.get(path, headers=auth).status_code == 200, path


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (f"Bearer {TOKEN}x", "invalid_token"),
        ("Bearer s3cret", "invalid_token"),
        (f"Basic {TOKEN}", "unauthorized"),
        ("Bearer ", "unauthorized"),
        (TOKEN, "unauthorized"),
    ],
)
def test_wrong_tokens_are_refused(secured: TestClient, header: str, code: str) -> None:
    r = secured.post("/tag", json={"text": TEXT}, headers={"Authorization": header})
    assert (r.status_code, r.json()["code"]) == (401, code)


def test_token_is_checked_before_the_body(secured: TestClient) -> None:
    # Without the token a client learns nothing about what the service accepts.
    r = secured.post("/tag", content=b"{not json", headers=JSON)
    assert (r.status_code, r.json()["code"]) == (401, "unauthorized")


def test_cors_preflight_needs_no_token(secured: TestClient) -> None:
    r = secured.options(
        "/tag", headers={"Origin": "http://x", "Access-Control-Request-Method": "POST"}
    )
    assert r.status_code != 401 and r.status_code < 500


def test_without_token_no_auth(client: TestClient, service: ModuleType) -> None:
    assert client.get("/metadata").status_code == 200
    with running(service, CONFLICT_TAGGER_TOKEN="  \n") as blank:  # blank: not set
        assert blank.get("/metadata").status_code == 200


def test_settings(service: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CONFLICT_TAGGER_TOKEN", *LIMITS):
        monkeypatch.delenv(name, raising=False)
    d = service.ServiceSettings()
    assert (d.max_chars, d.max_docs, d.max_total_chars, d.max_tokens, d.token) == (
        200_000, 64, 1_000_000, 100_000, None,
    )  # fmt: skip
    monkeypatch.setenv("CONFLICT_TAGGER_TOKEN", " abc\n")  # as read from a file
    assert service.ServiceSettings().token.get_secret_value() == "abc"


# --- which model, and what `bentoml build` packages ----------------------------------


def test_artifact_folder_declares_no_model(service: ModuleType, artifact: Path) -> None:
    ref, declared = service.MODEL_REF, service.MODEL_TAG
    assert ref == str(artifact)
    assert declared is None and service.ConflictTagger.models == []
    assert service.ConflictTagger.envs == []


def test_production_model_is_declared_for_build(
    artifact: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = manifest(artifact)["version"]
    with isolated_home(tmp_path / "home"):
        tag = registry.register(artifact)
        registry.promote(tag)
        module = import_service(monkeypatch, None)  # production: the default
        declared = module.MODEL_TAG
        assert declared == tag
        assert [str(m.tag) for m in module.ConflictTagger.models] == [tag]
        (env,) = module.ConflictTagger.envs
        assert (env.name, env.value) == ("CONFLICT_TAGGER_MODEL", tag)
        with running(module) as c:  # and serves the copy in the model store
            assert c.get("/metadata").json()["model"]["version"] == version
            loaded = module.bentoml.get_current_service().tagger.artifact.path
            assert Path(loaded).is_relative_to(tmp_path / "home" / "models")
        prefix = tag.split(":")[1][:5]
        for ref in (prefix, tag.upper()):  # a unique version prefix; any case
            declared = import_service(monkeypatch, ref).MODEL_TAG
            assert declared == tag, ref


def test_model_errors_say_what_to_do(service: ModuleType, tmp_path: Path) -> None:
    with isolated_home(tmp_path / "home"):
        assert service.declared_tag("production") is None  # nothing promoted: imports fine
        with pytest.raises(registry.RegistryError, match="promote"):
            service.find_model("production", None)
        with pytest.raises(registry.RegistryError, match="is not an artifact folder"):
            service.find_model(str(tmp_path / "missing"), None)
        missing = service.BentoModel(service.declared_tag("conflict-tagger:nope"))
        with pytest.raises(registry.RegistryError, match="not in the BentoML model store"):
            service.find_model("conflict-tagger:nope", missing)
        with pytest.raises(registry.RegistryError, match="neither an artifact folder"):
            service.declared_tag("no such:tag")


def bentoml_cli(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(OUR_ENV)}
    clean |= {"BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "True", **env}
    return subprocess.run(
        [sys.executable, "-m", "bentoml", *args],
        cwd=REPO, env=clean, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_serve_without_a_model_fails_at_once(tmp_path: Path) -> None:
    started = time.monotonic()
    port = str(free_port())
    out = bentoml_cli("serve", "serving.service:ConflictTagger", "--port", port, home=tmp_path)
    assert out.returncode != 0
    assert "no model is promoted to production" in out.stdout + out.stderr
    assert time.monotonic() - started < 30  # the main process refuses; no worker restarts


def test_bentoml_build_packages_the_production_model(artifact: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with isolated_home(home):
        tag = registry.register(artifact)
        registry.promote(tag)
    out = bentoml_cli("build", "--output", "tag", home=home)
    assert out.returncode == 0, out.stdout + out.stderr
    (bento_dir,) = [p for p in (home / "bentos" / "conflict-tagger").iterdir() if p.is_dir()]
    info = yaml.safe_load((bento_dir / "bento.yaml").read_text())
    assert [m["tag"] for m in info["services"][0]["models"]] == [tag]
    assert {"name": "CONFLICT_TAGGER_MODEL", "value": tag, "stage": "all"} in info["envs"]
    src = bento_dir / "src"
    assert (src / "serving" / "service.py").is_file()
    assert (src / "serving" / "static" / "demo.html").is_file()
    assert not (src / "training").exists()
    requirements = (bento_dir / "env" / "python" / "requirements.txt").read_text()
    packages = {re.split(r"[<>=!~ ]", line)[0] for line in requirements.splitlines() if line}
    assert {"onnxruntime", "tokenizers", "numpy", "pydantic", "bentoml"} <= packages
    assert not packages & {"torch", "transformers", "datasets"}

    # What a container gets: the bento exported with its model, imported where there is
    # no registry alias and no model of ours, and served from the bento store.
    exported = tmp_path / "conflict-tagger.bento"
    out = bentoml_cli("export", f"conflict-tagger:{bento_dir.name}", str(exported), home=home)
    assert out.returncode == 0, out.stdout + out.stderr
    elsewhere = tmp_path / "elsewhere"
    out = bentoml_cli("import", str(exported), home=elsewhere)
    assert out.returncode == 0, out.stdout + out.stderr
    assert not (elsewhere / "conflict-tagger" / "aliases.json").exists()
    env = {"BENTOML_HOME": str(elsewhere)}
    bento = f"conflict-tagger:{bento_dir.name}"
    with serve(tmp_path, env, target=bento) as server, httpx.Client(base_url=server.url) as http:
        assert http.get("/livez").status_code == 200
        r = http.post("/tag", json={"text": TEXT}, timeout=30)
        assert r.status_code == 200, r.text
        check_model_headers(r, manifest(artifact)["version"])


def test_a_bento_serves_its_packaged_model(service: ModuleType, tmp_path: Path) -> None:
    module = tmp_path / "bento" / "src" / "serving" / "service.py"
    module.parent.mkdir(parents=True)
    assert service.packaged_tag(module) is None  # a checkout, not a bento
    envs = [{"name": "OTHER", "value": "x"}, {"name": "CONFLICT_TAGGER_MODEL", "value": "a:b"}]
    (tmp_path / "bento" / "bento.yaml").write_text(yaml.safe_dump({"envs": envs}))
    assert service.packaged_tag(module) == "a:b"


# --- a real `bentoml serve` ----------------------------------------------------------


def test_real_server(server: Server, artifact: Path) -> None:
    version = manifest(artifact)["version"]
    assert server.ready_after < 30
    with httpx.Client(base_url=server.url, timeout=30) as http:
        r = http.post("/tag", json={"text": TEXT})
        assert r.status_code == 200, r.text
        check_result(Result.model_validate(r.json()), TEXT, version)
        check_model_headers(r, version)
        bad = http.post("/tag", content=b'{"text": "\xff"}', headers=JSON)
        assert (bad.status_code, bad.json()["code"]) == (400, "invalid_utf8")
        assert http.get("/livez").status_code == 200
        metrics = http.get("/metrics")
        assert metrics.status_code == 200
        assert re.search(r'bentoml_service_request_total\{[^}]*endpoint="/tag"', metrics.text)
        # Every GET address the README gives answers on the real server.
        for path in readme_get_paths():
            assert http.get(path).status_code == 200, path


def test_a_client_that_goes_away_costs_no_model_time(server: Server) -> None:
    """While the model is busy, a request whose client disconnects leaves the queue unrun."""
    import socket
    from urllib.parse import urlsplit

    busy = {"texts": ["Rebels shelled Kayes near the camp at dawn. " * 450] * 2}
    address = urlsplit(server.url)
    with httpx.Client(base_url=server.url, timeout=120) as http, ThreadPoolExecutor(4) as pool:
        before = http.get("/metadata").json()["queue"]["skipped_cancelled"]
        # Several calls' worth of work (each request is over CONFLICT_TAGGER_CALL_TOKENS).
        jobs = [pool.submit(http.post, "/tag_batch", json=busy) for _ in range(2)]
        time.sleep(0.5)
        body = json.dumps({"text": "Police arrested two men in Kayes."}).encode()
        with socket.create_connection((address.hostname, address.port)) as raw:
            raw.sendall(
                b"POST /tag HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            time.sleep(0.3)  # the request is read and queued behind the busy model
        assert not any(j.done() for j in jobs), "the model was not busy long enough"
        assert all(j.result().status_code == 200 for j in jobs)
        after = http.get("/metadata").json()["queue"]["skipped_cancelled"]
    assert after == before + 1


def readme_get_paths() -> list[str]:
    """The service addresses the README's "Using it" section names (`/...` in backticks)."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Using it", 1)[1].split("\n## ", 1)[0]
    found = set(re.findall(r"`(?:GET )?(/[a-z_./]*)`", section))
    posts = {"/tag", "/tag_batch", "/tag_adaptive", "/reload"}
    paths = sorted(found - posts)
    assert {"/", "/docs.json", "/demo", "/metadata", "/livez", "/readyz"} <= set(paths), paths
    return paths


# --- the demo page in headless Chromium ----------------------------------------------

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--virtual-time-budget=15000",
]  # fmt: skip
SHOT = (1200, 900)


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    message = "no Chromium: apt-get install -y chromium chromium-driver"
    if os.environ.get("CI"):
        pytest.fail(message)  # CI installs it: a missing browser must not pass by skipping
    pytest.skip(message)


def run_chromium(url: str, profile: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *flags, url],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    return out


class Page(HTMLParser):
    """What the test needs from the dumped DOM: state, highlights and table rows."""

    def __init__(self) -> None:
        super().__init__()
        self.state: str | None = None
        self.highlights: list[str] = []  # the style of each highlighted piece of text
        self.rows: dict[str, list[str]] = {"events": [], "event-types": []}
        self.status = ""
        self._table: str | None = None
        self._in_body = False  # inside a table's tbody
        self._in_status = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "body":
            self.state = a.get("data-state")
        elif tag == "table" and a.get("id") in self.rows:
            self._table = a["id"]
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._table and self._in_body:
            self.rows[self._table].append("")
        elif tag == "td" and self._table and a.get("class") == "empty":
            self.rows[self._table][-1] = "empty"
        elif tag == "span" and a.get("class") == "seg":
            self.highlights.append(a.get("style") or "")
        self._in_status = a.get("id") == "status"

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag == "tbody":
            self._in_body = False

    def handle_data(self, data: str) -> None:
        if self._in_status:
            self.status += data


def read_png(data: bytes) -> tuple[int, int, set[bytes]]:
    """Width, height and the set of RGB colours of an 8-bit RGB(A) PNG (no Pillow)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + size]
        pos += 12 + size
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, colour, interlace) in {(8, 2, 0), (8, 6, 0)}, "unexpected PNG format"
    step = 3 if colour == 2 else 4
    stride = width * step
    raw = zlib.decompress(idat)
    colours: set[bytes] = set()
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):  # undo the PNG row filter
            left = line[x - step] if x >= step else 0
            up, corner = prev[x], (prev[x - step] if x >= step else 0)
            if kind == 1:
                line[x] = (line[x] + left) & 255
            elif kind == 2:
                line[x] = (line[x] + up) & 255
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                line[x] = (line[x] + pred) & 255
        colours.update(bytes(line[x : x + 3]) for x in range(0, stride, step))
        prev = line
    return width, height, colours


def palette(name: str) -> dict[str, bytes]:
    """A colour table of the demo page's script: label -> RGB."""
    html = (REPO / "serving" / "static" / "demo.html").read_text()
    block = re.search(rf"const {name} = \{{(.*?)\}};", html, re.S)
    assert block is not None, name
    return {k: bytes.fromhex(v) for k, v in re.findall(r'(\w+): "#([0-9a-f]{6})"', block[1])}


def test_demo_page_has_a_colour_for_every_label() -> None:
    labels = label_lists()
    assert list(palette("ENTITY_COLOURS")) == labels["entity_types"]
    assert list(palette("ROLE_COLOURS")) == labels["roles"]


def test_demo_page_in_chromium(server: Server, tmp_path: Path) -> None:
    text = OTHER
    expected = Result.model_validate(httpx.post(f"{server.url}/tag", json={"text": text}).json())
    url = f"{server.url}/demo?{urlencode({'text': text, 'run': '1'})}"

    page = Page()
    page.feed(run_chromium(url, tmp_path / "profile-dom", "--dump-dom").stdout)
    assert page.state == "done", page.status
    assert page.status.strip() == (
        f"Tagged: {len(expected.entities)} entities, {len(expected.roles)} roles, "
        f"{len(expected.events)} events."
    )
    assert expected.entities, "the tiny model found no entity in the text: pick another"
    assert page.highlights
    assert any("background-color" in style for style in page.highlights)
    assert len(page.rows["events"]) == max(1, len(expected.events))
    assert ("empty" in page.rows["events"]) == (not expected.events)
    assert len(page.rows["event-types"]) == max(1, len(expected.event_types))

    shot = tmp_path / "demo.png"
    size = f"--window-size={SHOT[0]},{SHOT[1]}"
    run_chromium(url, tmp_path / "profile-shot", size, f"--screenshot={shot}")
    width, height, colours = read_png(shot.read_bytes())
    assert (width, height) == SHOT
    assert len(colours) > 100, "the screenshot is (nearly) blank"
    assert colours & set(palette("ENTITY_COLOURS").values()), "no entity highlight on screen"


def test_real_server_stops_cleanly(server: Server) -> None:
    """Last: SIGTERM stops the server and its worker; nothing is left running."""
    assert server.stop() == 0, server.log_tail()
    assert not server.alive()


def test_worker_processes_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, artifact: Path
) -> None:
    monkeypatch.setenv("CONFLICT_TAGGER_WORKERS", "2")
    module = import_service(monkeypatch, str(artifact))
    assert module.WORKERS == 2
    assert module.ConflictTagger.config["workers"] == 2
    for bad in ("0", "two", "-1"):
        with pytest.raises(ValueError, match="CONFLICT_TAGGER_WORKERS"):
            module.worker_count(bad)
