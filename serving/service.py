"""The HTTP service: a BentoML 1.4 class-based service around one `Tagger`.

Routes: `POST /tag`, `/tag_batch` and `/tag_adaptive` here (API_DESCRIPTION is what clients
are told), `GET /metadata` and `/demo` from serving/pages.py, and BentoML's own `/livez`,
`/healthz`, `/readyz`, `/metrics`, `/docs.json` and `/` (OpenAPI), plus `POST /reload` (below).
`/tag_adaptive` is its own
route because a batchable API must take and return a list, which `/tag` and `/tag_batch` do
not. `RequestGuard` (serving/guard.py) checks the token and each request body before BentoML
sees it, and names the model in the `X-Model-Name` and `X-Model-Version` headers of every
response; the request limits are in serving/checks.py.

Which model is served, and what `bentoml build` packages:

- `CONFLICT_TAGGER_MODEL` names an artifact folder, a registry tag (`conflict-tagger:VERSION`,
  a bare version or a unique version prefix) or `production` (the default: the registry's
  alias). It is read when this module is imported.
- A tag, or the production alias, is resolved to a full tag at import and declared as the
  class attribute `model = bentoml.models.BentoModel(tag)`, so `bentoml build` packages that
  model into the bento. The tag is also declared as the service env `CONFLICT_TAGGER_MODEL`,
  which the bento's container sets: a container has no alias file, so it serves exactly the
  packaged model (a value given at `docker run` still wins). The model is read through
  BentoML's model store, which inside a bento is the bento's own, and verified (checksums, and
  the manifest against the checksums recorded at registration) before it is loaded.
- An artifact folder is loaded from its path and declares no model: a bento built that way
  holds no model and would not start. Register and promote it first.
- With nothing promoted, the module still imports (tools that only import it keep working)
  but declares no model: `bentoml serve` stops at once in its main process (the
  `on_deployment` hook) with the registry's "promote a model first", and `bentoml build`
  would package no model. Build only after promoting.
- `bentoml serve <bento>` (from the bento store, where the container's envs are not set)
  serves the bento's packaged tag too: read from the bento's `bento.yaml` (`packaged_tag`).

Picking up a new model without a restart: `conflict-tagger models promote TAG` (or
`rollback`) only moves the alias; a running service keeps its model until `POST /reload` (or
a restart). `/reload` resolves `CONFLICT_TAGGER_MODEL` again (`production`: the alias as it
is now; a tag or folder: that same reference, so a re-exported folder is picked up), verifies
and loads the new tagger completely, and only then swaps it in; if anything fails, the old
model keeps serving and the reply says why. Requests already running finish on the model they
started with. Each worker process holds its own model and reloads only when it receives the
request: this service runs one worker unless CONFLICT_TAGGER_WORKERS says otherwise; with
more, reload each (or restart). A bento's container serves its packaged tag, so there
`/reload` only reloads that same model.
`bentoml serve` hands its workers the tag it resolved at start-up (see SERVICE_ENVS), so the
reference `/reload` follows reaches them separately, in `CONFLICT_TAGGER_RELOAD_REF`; a worker
that BentoML restarts (after a crash) starts again from the start-up tag.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Final, TypeVar, cast

import yaml
from pydantic import BaseModel, Field

from serving import registry
from serving.artifact import SHIPPED, Artifact, is_folder_ref, shipped, verify
from serving.batcher import Batcher
from serving.checks import ApiError, ServiceSettings
from serving.guard import RequestGuard
from serving.pages import web
from serving.registry import NAME, PRODUCTION, RegistryError
from serving.result import Result
from serving.tagger import Tagger


@contextmanager
def quiet_bentoml() -> Iterator[None]:
    """Silence two deprecation warnings BentoML 1.4 triggers in its own code, so runs with
    warnings as errors (the tests) can import and declare services: a pathspec pattern built
    at import, and pydantic's `__get_pydantic_core_schema__` whenever BentoML makes an I/O
    model (importing its SDK, and each `bentoml.api`)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "GitWildMatchPattern", DeprecationWarning)
        warnings.filterwarnings(
            "ignore", "The `__get_pydantic_core_schema__` method", DeprecationWarning
        )
        yield


with quiet_bentoml():
    import bentoml
    from bentoml.exceptions import BentoMLException, NotFound
    from bentoml.models import BentoModel

# BentoML configures the "bentoml" loggers in `bentoml serve`: log under it to be seen.
logger = logging.getLogger("bentoml.service.conflict_tagger")

SAMPLE = (
    "Gunmen from the Sahel Liberation Front attacked an army checkpoint outside Kayes on "
    "Tuesday, killing four soldiers and wounding seven civilians, the defence ministry said."
)
MODEL_ENV = "CONFLICT_TAGGER_MODEL"


# --- which model ---------------------------------------------------------------------


def declared_tag(ref: str) -> str | None:
    """The full BentoML tag `ref` names, or None: a folder, or no production model yet."""
    if ref == PRODUCTION:  # the alias, even if a folder has that name (as in the registry)
        try:
            return registry.production()
        except RegistryError as err:  # a damaged alias file: refuse at start-up, not import
            logger.warning("%s", err)
            return None
    if ref == SHIPPED or is_folder_ref(ref):
        return None
    tag = (ref if ":" in ref else f"{NAME}:{ref}").lower()
    try:
        return str(bentoml.models.get(tag).tag)  # a version prefix becomes the full tag
    except NotFound:
        return tag  # reported, with what to do, before the service starts
    except (BentoMLException, ValueError) as err:
        raise RegistryError(
            f"{MODEL_ENV}={ref!r} is neither an artifact folder nor a single model tag "
            f"({err}); give a folder, {NAME}:VERSION or {PRODUCTION}"
        ) from None


def find_model(ref: str, declared: BentoModel | None) -> bentoml.Model | Path:
    """The stored model or artifact folder `ref` names, checked for existence only (cheap:
    the main `bentoml serve` process calls it to fail at once, before starting workers)."""
    if declared is not None:
        stored: bentoml.Model | None = declared.stored
        if stored is None:
            raise RegistryError(
                f"{MODEL_ENV}={ref!r}: model {declared.tag} is not in the BentoML model store; "
                f"register it (`{NAME} models register ARTIFACT`) or set {MODEL_ENV} to an "
                "artifact folder"
            )
        return stored
    if ref == PRODUCTION:  # no alias when imported: raises the registry's "promote first"
        return registry.resolve(PRODUCTION).path
    if ref == SHIPPED:
        return shipped()
    if not Path(ref).is_dir():
        raise RegistryError(
            f"{MODEL_ENV}={ref!r} is not an artifact folder; give an exported artifact "
            f"folder or a registry tag ({NAME}:VERSION)"
        )
    return Path(ref)


def load_artifact(ref: str, declared: BentoModel | None) -> Artifact:
    """The artifact `ref` names, every checksum verified (ArtifactError, RegistryError)."""
    found = find_model(ref, declared)
    if isinstance(found, bentoml.Model):
        return registry.verified_model(found)
    return verify(found)


def load_tagger(ref: str, declared: BentoModel | None) -> Tagger:
    """The tagger for `ref`, every checksum verified."""
    return Tagger(load_artifact(ref, declared))


def declared_now(ref: str) -> BentoModel | None:
    """The stored model `ref` names at this moment: the production alias is read again."""
    tag = declared_tag(ref)
    return BentoModel(tag) if tag else None


def packaged_tag(module: Path = Path(__file__)) -> str | None:
    """The model tag of the bento this module runs from, if it runs from a built bento.

    `bentoml serve TAG` on a machine (unlike the bento's container) does not set the
    bento's envs, and the machine's own production alias may name another model or none.
    """
    info_file = module.resolve().parents[2] / "bento.yaml"  # BENTO/src/serving/service.py
    if not info_file.is_file():
        return None
    info = yaml.safe_load(info_file.read_text(encoding="utf-8")) or {}
    for env in info.get("envs") or []:
        if env.get("name") == MODEL_ENV and env.get("value"):
            return str(env["value"])
    return None


MODEL_REF: Final = os.environ.get(MODEL_ENV, "").strip() or packaged_tag() or PRODUCTION
MODEL_TAG: Final = declared_tag(MODEL_REF)
DECLARED_MODEL: Final = BentoModel(MODEL_TAG) if MODEL_TAG else None
# Pins the packaged model in a built bento; a value set at run time still wins.
SERVICE_ENVS: Final = [{"name": MODEL_ENV, "value": MODEL_TAG}] if MODEL_TAG else []
# `bentoml serve` also starts its workers with MODEL_ENV set to MODEL_TAG (from SERVICE_ENVS),
# so a worker sees the tag its main process resolved, not `production`. What `/reload`
# resolves again is the reference the main process was given, passed on to the workers in
# this variable by `pass_reference_to_workers`.
RELOAD_ENV: Final = "CONFLICT_TAGGER_RELOAD_REF"
RELOAD_REF: Final = os.environ.get(RELOAD_ENV, "").strip() or MODEL_REF


def bind_host(argv: list[str]) -> str:
    """The address `bentoml serve` listens on: its --host option, else BentoML's default."""
    for i, arg in enumerate(argv):
        if arg == "--host" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--host="):
            return arg.split("=", 1)[1]
    from bentoml._internal.configuration.containers import BentoMLContainer

    return str(BentoMLContainer.http.host.get())


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


# --- BentoML, typed ------------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])


def api(**options: Any) -> Callable[[F], F]:
    """`bentoml.api`, typed (BentoML's SDK package ships no type information) and quiet."""

    def decorate(func: F) -> F:
        with quiet_bentoml():
            return cast(F, bentoml.api(**options)(func))

    return decorate


def on_deployment(func: F) -> F:
    """`bentoml.on_deployment`, typed: a hook run once in the main `bentoml serve` process."""
    return cast(F, bentoml.on_deployment(func))


def model_headers() -> list[tuple[bytes, bytes]]:
    """The served model, for `RequestGuard` to name in every response."""
    try:
        tagger: Tagger = bentoml.get_current_service().tagger
    except BentoMLException:  # not started yet
        return []
    info = tagger.info
    return [(b"x-model-name", info.name.encode()), (b"x-model-version", info.version.encode())]


# --- the service ---------------------------------------------------------------------

Text = Annotated[
    str,
    Field(
        description="The document: plain text, up to CONFLICT_TAGGER_MAX_CHARS.", examples=[SAMPLE]
    ),
]
Texts = Annotated[
    list[str],
    Field(description="1 to CONFLICT_TAGGER_MAX_DOCS documents.", examples=[[SAMPLE]]),
]


class TagBatchResults(BaseModel):
    results: list[Result] = Field(description="One result per input text, in input order.")


TIMEOUT_S = 300


def worker_count(value: str) -> int:
    """CONFLICT_TAGGER_WORKERS: HTTP worker processes, each with its own model."""
    if not value.strip().isdigit() or int(value) < 1:
        raise ValueError(
            f"CONFLICT_TAGGER_WORKERS={value!r} must be a whole number of worker processes, 1 "
            "or more (with CONFLICT_TAGGER_THREADS x workers at most the cores)"
        )
    return int(value)


WORKERS: Final = worker_count(os.environ.get("CONFLICT_TAGGER_WORKERS", "1"))

API_DESCRIPTION = """Tags political-conflict news: entities (actors, weapons, places, dates),
the roles they play in events, document and sentence event types, and event records.

- `POST /tag` with `{"text": "..."}`: one result.
- `POST /tag_batch` with `{"texts": ["...", ...]}`: `{"results": [...]}`, in input order.
- `POST /tag_adaptive` with `{"texts": ["..."]}`: a list of results. For many concurrent
  clients with one document each: the server merges concurrent requests into one model call.
- `GET /metadata`: the model, its labels, metrics, thresholds, licences and the limits.
- `GET /demo`: a page to try it.
- `POST /reload`, no body: load the model `CONFLICT_TAGGER_MODEL` names now (for
  `production`, the alias as it is now) and serve it from then on. Replies
  `{"previous": {"name", "version"}, "current": {"name", "version"}, "changed": bool,
  "model_ref": "..."}`; reloading an unchanged model is a no-op (`changed` false). The new
  model is verified and loaded before it replaces the old one: on failure the old model keeps
  serving and the reply is 409 (the model named cannot be served: the message says what to
  fix) or 500, with code `reload_failed`. `conflict-tagger models promote` or `rollback`
  followed by `POST /reload` (or a restart) is how a promotion reaches a running service.
  Each worker process reloads separately (this service runs one). Closed (403,
  `reload_closed`) on a server without a token unless CONFLICT_TAGGER_ALLOW_OPEN_RELOAD is set.

Every response names the model in the `X-Model-Name` and `X-Model-Version` headers. Refused
requests get `{"error": "what is wrong and what to do", "code": "...", "field": "..."}` with
400 (not JSON, not UTF-8), 401 (token missing or wrong: send `Authorization: Bearer <token>`),
413 (text, document count, tokens or body over the limits in `/metadata`), 415 (not JSON),
422 (wrong types or fields, empty text) or 503 with `Retry-After` (more model work already
waiting than `limits.max_wait_s` seconds: retry after the seconds it names). Offsets count
Unicode code points.
"""


@bentoml.service(
    description=API_DESCRIPTION,
    envs=SERVICE_ENVS,
    # One worker by default: ONNX Runtime already uses every core, and each worker holds
    # the model. More (CONFLICT_TAGGER_WORKERS, with THREADS x WORKERS <= cores) trade
    # latency at low load for throughput under load (benchmarks/performance.md).
    workers=WORKERS,
    traffic={"timeout": TIMEOUT_S},
)
@bentoml.asgi_app(web(bentoml.get_current_service), path="/")
class ConflictTagger:
    """Tags political-conflict news: entities, event roles, event types and event records."""

    model = DECLARED_MODEL  # what `bentoml build` packages (None for an artifact folder)

    def __init__(self) -> None:
        self.settings = ServiceSettings()
        self.tagger = load_tagger(MODEL_REF, DECLARED_MODEL)
        # One reload at a time. Readers take no lock: each request reads `self.tagger` once
        # and keeps that object, and the attribute is only ever set to a fully loaded one.
        self._reload_lock = threading.Lock()
        # Every route tags through one thread that merges concurrent requests (batcher.py);
        # it reads `self.tagger` per call, so a reload takes effect at the next call.
        self.batcher: Batcher[Result] = Batcher(
            lambda texts: self.tagger.tag(texts),
            cost=lambda texts: self.tagger.count_tokens(texts),
            max_cost=self.settings.call_tokens,
        )
        logger.info("serving %s %s", self.tagger.info.name, self.tagger.info.version)

    def reload_model(self) -> dict[str, Any]:
        """`POST /reload` (the route is in serving/pages.py): load what RELOAD_REF names now,
        verified, then swap it in. Blocking: call it from a worker thread. Raises ApiError
        (409: the model named cannot be served; 500: it failed to load) with the old model
        still serving."""
        with self._reload_lock:
            old = self.tagger
            try:
                artifact = load_artifact(RELOAD_REF, declared_now(RELOAD_REF))
                # The same verified files at the same place: the model already served.
                new = old if artifact == old.artifact else Tagger(artifact, old.settings)
            except (ValueError, BentoMLException) as err:  # RegistryError, ArtifactError
                logger.warning("reloading %r refused: %s", RELOAD_REF, err)
                raise self._reload_error(409, err, old) from err
            except Exception as err:
                logger.exception("reloading %r failed", RELOAD_REF)
                raise self._reload_error(500, err, old) from err
            self.tagger = new
        changed = new is not old
        if changed:
            logger.info(
                "reloaded %r: %s %s -> %s %s", RELOAD_REF, old.info.name,
                old.info.version, new.info.name, new.info.version,
            )  # fmt: skip
        return {
            "previous": {"name": old.info.name, "version": old.info.version},
            "current": {"name": new.info.name, "version": new.info.version},
            "changed": changed,
            "model_ref": RELOAD_REF,
        }

    @staticmethod
    def _reload_error(status: int, err: Exception, serving: Tagger) -> ApiError:
        what = "cannot be served" if status == 409 else "failed to load"
        return ApiError(
            status,
            "reload_failed",
            f"reload failed: the model {MODEL_ENV}={RELOAD_REF!r} names now {what}: {err}. "
            f"Still serving {serving.info.name} {serving.info.version}. Fix that (for "
            f"{PRODUCTION!r}: or point the alias at a working model with `{NAME} models promote "
            f"TAG` or `{NAME} models rollback`) and send POST /reload again",
        )

    @on_deployment
    @staticmethod
    def check_model() -> None:
        """Stop `bentoml serve` before it starts workers when there is no model to load."""
        find_model(MODEL_REF, DECLARED_MODEL)

    @on_deployment
    @staticmethod
    def warn_if_open() -> None:
        """In the main process: a server every machine can reach should have a token."""
        host = bind_host(sys.argv)
        if ServiceSettings().token is None and not is_loopback(host):
            logger.warning(
                "listening on %s without CONFLICT_TAGGER_TOKEN: anyone who can reach this "
                "port can tag (and, with CONFLICT_TAGGER_ALLOW_OPEN_RELOAD, reload the "
                "model); set a token, or serve on 127.0.0.1 (--host 127.0.0.1)",
                host,
            )

    @on_deployment
    @staticmethod
    def pass_reference_to_workers() -> None:
        """In the main process, before workers start: the reference `/reload` follows."""
        os.environ.setdefault(RELOAD_ENV, MODEL_REF)

    def __is_ready__(self) -> bool:
        """BentoML's `/readyz`: unready while no model thread can run (batcher.py)."""
        return self.batcher.ready

    async def _tagged(self, texts: list[str]) -> list[Result]:
        # submit counts the texts' tokens: off the event loop, as the guard's count is.
        return await asyncio.wrap_future(await asyncio.to_thread(self.batcher.submit, texts))

    @api(route="/tag")
    async def tag(self, text: Text) -> Result:
        """Tag one document."""
        return (await self._tagged([text]))[0]

    @api(route="/tag_batch")
    async def tag_batch(self, texts: Texts) -> TagBatchResults:
        """Tag several documents in one call; results come back in input order."""
        return TagBatchResults(results=await self._tagged(texts))

    # The dispatcher cancels (503) jobs it expects to exceed max_latency_ms: no sooner than
    # the traffic timeout would, so a valid request is never cut short by batching.
    @api(
        route="/tag_adaptive",
        batchable=True,
        max_batch_size=64,
        max_latency_ms=TIMEOUT_S * 1000,
    )
    async def tag_adaptive(self, texts: Texts) -> list[Result]:
        """Tag documents with adaptive batching: concurrent requests share model calls.
        Send `{"texts": [one document]}`; the reply is a JSON array of results."""
        return await self._tagged(texts)


# mypy sees the class, not the bentoml.Service the decorator made of it.
def count_tokens(texts: list[str]) -> int:
    """Tokens the served model makes of `texts` (Rust tokenizer: milliseconds per 100k chars)."""
    try:
        tagger: Tagger = bentoml.get_current_service().tagger
    except BentoMLException:  # not started yet: the model call would fail anyway
        return 0
    return tagger.count_tokens(texts)


def model_speed() -> float:
    """Tokens per second of the model calls so far (the guard sheds load with it)."""
    try:
        return float(bentoml.get_current_service().batcher.rate)
    except BentoMLException:
        return math.inf


cast(Any, ConflictTagger).add_asgi_middleware(
    RequestGuard, model_headers=model_headers, count_tokens=count_tokens,
    speed=model_speed,
)  # fmt: skip
