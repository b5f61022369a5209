"""The HTTP service: a BentoML 1.4 class-based service around one `Tagger`, plus the demo page.

Endpoints (JSON in, JSON out; see API_DESCRIPTION for what clients are told):

- `POST /tag` `{"text": "..."}` -> one `Result`.
- `POST /tag_batch` `{"texts": [...]}` -> `{"results": [...]}`, in input order.
- `POST /tag_adaptive` `{"texts": [...]}` -> `[Result, ...]`: the same work through BentoML
  adaptive batching, for many concurrent clients sending one document each: BentoML merges
  their requests into one model call. A separate route because a batchable API must take and
  return a list, which `/tag` and `/tag_batch` do not.
- `GET /metadata`: model name and version, label lists, dev metrics, thresholds, windows,
  licences and the request limits.
- `GET /demo`: the demo page, `serving/static/demo.html`.
- BentoML's own `/livez`, `/healthz`, `/readyz`, `/metrics`, `/docs.json` and `/` (OpenAPI).

`/metadata` and `/demo` live in a small Starlette app mounted with `bentoml.asgi_app`
(BentoML APIs are POST only); they reach the service instance through
`bentoml.get_current_service()`. Every response carries the model in the `X-Model-Name` and
`X-Model-Version` headers; results also carry it in `result.model`, `/metadata` in `model`.

`RequestGuard`, an ASGI middleware in front of every route, checks the token and then each
tagging request before BentoML parses it, so BentoML's handlers only see valid input and no
request body can cause a 5xx (BentoML's own parse errors are vaguer 400s, and its 4xx
exceptions serialize oddly). Refusals are `{"error": message, "code": ..., "field": ...}`.

Limits (environment, read when the app starts): `CONFLICT_TAGGER_MAX_CHARS` per text (200000
characters, as Python counts them: code points), `CONFLICT_TAGGER_MAX_DOCS` per request (64)
and `CONFLICT_TAGGER_MAX_TOTAL_CHARS` per request (1000000). The total bounds the work one
request can ask for: at 4,000-20,000 characters a second on two busy cores it ends within the
300 s traffic timeout, which 64 texts of 200000 characters would not. Bodies larger than any
valid request can be are refused while being read.

Authentication: when `CONFLICT_TAGGER_TOKEN` is set, every request except `/livez`,
`/healthz`, `/readyz`, the demo page and CORS preflights needs `Authorization: Bearer
<token>`; the token is compared in constant time (`hmac.compare_digest` of sha256 digests,
which also hides its length).

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
- `bentoml serve <bento>` on a development machine imports the service again, so it follows
  the current production alias of that machine rather than the packaged tag.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import warnings
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Final, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from serving import registry
from serving.artifact import Artifact, verify
from serving.registry import NAME, PRODUCTION, RegistryError
from serving.result import Result
from serving.schema import label_lists
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

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# BentoML configures the "bentoml" loggers in `bentoml serve`: log under it to be seen.
logger = logging.getLogger("bentoml.service.conflict_tagger")

STATIC = Path(__file__).parent / "static"
SAMPLE = (
    "Gunmen from the Sahel Liberation Front attacked an army checkpoint outside Kayes on "
    "Tuesday, killing four soldiers and wounding seven civilians, the defence ministry said."
)
MODEL_ENV = "CONFLICT_TAGGER_MODEL"


class ServiceSettings(BaseSettings):
    """Request limits and the optional token, from CONFLICT_TAGGER_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="CONFLICT_TAGGER_", extra="ignore")

    max_chars: int = Field(200_000, ge=1)  # per document, in Unicode code points
    max_docs: int = Field(64, ge=1)  # per request
    # Per request, all documents together: bounds the work one request can ask for, so it
    # ends within the traffic timeout (~4,000-20,000 characters/s on 2 busy CPU cores).
    max_total_chars: int = Field(1_000_000, ge=1)
    token: SecretStr | None = None

    @field_validator("token")
    @classmethod
    def _blank_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        # A token read from a file often ends in a newline; an empty one would accept
        # `Authorization: Bearer ` and only look like auth is on.
        token = value.get_secret_value().strip() if value is not None else ""
        return SecretStr(token) if token else None


# --- which model ---------------------------------------------------------------------


def _model_ref() -> str:
    return os.environ.get(MODEL_ENV, "").strip() or PRODUCTION


def _is_path(ref: str) -> bool:
    # BentoML tags cannot hold a slash, so anything with one is meant as a folder.
    return Path(ref).is_dir() or "/" in ref or os.sep in ref or ref.startswith(".")


def declared_tag(ref: str) -> str | None:
    """The full BentoML tag `ref` names, or None: a folder, or no production model yet."""
    if ref == PRODUCTION:  # the alias, even if a folder has that name (as in the registry)
        try:
            return registry.production()
        except RegistryError as err:  # a damaged alias file: refuse at start-up, not import
            logger.warning("%s", err)
            return None
    if _is_path(ref):
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


def _verified(model: bentoml.Model) -> Artifact:
    artifact = verify(model.path)
    if artifact.manifest["files"] != model.info.metadata.get("files"):
        raise RegistryError(
            f"{model.tag}: the manifest no longer matches the checksums recorded at "
            "registration; delete the model and register the artifact again"
        )
    return artifact


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
    if not Path(ref).is_dir():
        raise RegistryError(
            f"{MODEL_ENV}={ref!r} is not an artifact folder; give an exported artifact "
            f"folder or a registry tag ({NAME}:VERSION)"
        )
    return Path(ref)


def load_tagger(ref: str, declared: BentoModel | None) -> Tagger:
    """The tagger for `ref`, every checksum verified."""
    found = find_model(ref, declared)
    return (
        Tagger(_verified(found))
        if isinstance(found, bentoml.Model)
        else Tagger.from_artifact(found)
    )


MODEL_REF: Final = _model_ref()
MODEL_TAG: Final = declared_tag(MODEL_REF)
DECLARED_MODEL: Final = BentoModel(MODEL_TAG) if MODEL_TAG else None


def _service_envs() -> list[dict[str, str]]:
    # Pins the packaged model in a built bento; a value set at run time still wins.
    return [{"name": MODEL_ENV, "value": MODEL_TAG}] if MODEL_TAG else []


# --- errors --------------------------------------------------------------------------


class ApiError(Exception):
    """A request the service refuses; `message` says what is wrong and what to do."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def response(self, headers: Mapping[str, str] | None = None) -> JSONResponse:
        body = {"error": self.message, "code": self.code, "field": self.field}
        return JSONResponse(body, status_code=self.status, headers=headers)


# --- request checks ------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class TagRequest(_Strict):
    text: str


class BatchRequest(_Strict):
    texts: list[str]


class TagBatchResults(BaseModel):
    results: list[Result] = Field(description="One result per input text, in input order.")


REQUESTS: Final[dict[str, type[_Strict]]] = {
    "/tag": TagRequest,
    "/tag_batch": BatchRequest,
    "/tag_adaptive": BatchRequest,
}
_EXAMPLES: Final = {TagRequest: '{"text": "..."}', BatchRequest: '{"texts": ["...", "..."]}'}
_JSON_TYPES: Final = {"", "application/json", "text/json", "text/plain", "*/*"}
# curl -d sends this by default; the body is still JSON.
_JSON_TYPES_LENIENT: Final = {"application/x-www-form-urlencoded"}
_JSON_NAMES: Final = {
    "str": "a string",
    "list": "an array",
    "dict": "an object",
    "int": "a number",
    "float": "a number",
    "bool": "true or false",
    "NoneType": "null",
}


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _type_name(value: object) -> str:
    return _JSON_NAMES.get(type(value).__name__, type(value).__name__)


def _schema_error(error: ErrorDetails, model: type[_Strict]) -> ApiError:
    """A pydantic error as one 4xx that names the field."""
    kind, loc, example = error["type"], tuple(error["loc"]), _EXAMPLES[model]
    field = _path(loc) or None
    if kind == "json_invalid":
        reason = error["ctx"]["error"] if "ctx" in error else error["msg"]
        return ApiError(
            400,
            "invalid_json",
            f"the request body is not valid JSON ({reason}); send one JSON object such as "
            f"{example}, encoded as UTF-8",
        )
    if not loc:
        return ApiError(
            422,
            "wrong_type",
            f"the request body must be a JSON object such as {example}, "
            f"not {_type_name(error['input'])}",
        )
    if kind == "missing":
        return ApiError(422, "missing_field", f"the field {field!r} is required: {example}", field)
    if kind == "extra_forbidden":
        fields = " and ".join(repr(f) for f in model.model_fields)
        return ApiError(
            422, "unknown_field", f"unknown field {field!r}; send only {fields}: {example}", field
        )
    wanted = "an array of strings" if kind == "list_type" else "a string"
    return ApiError(
        422,
        "wrong_type",
        f"{field} must be {wanted}, not {_type_name(error['input'])}: {example}",
        field,
    )


def _check_text(text: str, field: str, settings: ServiceSettings) -> None:
    if not text.strip():
        raise ApiError(
            422,
            "empty_text",
            f"{field} is empty or only whitespace; send the document's text",
            field,
        )
    if len(text) > settings.max_chars:
        raise ApiError(
            413,
            "text_too_long",
            f"{field} has {len(text)} characters, more than the limit of "
            f"{settings.max_chars} (CONFLICT_TAGGER_MAX_CHARS); split the document into "
            "parts and send them as separate texts",
            field,
        )


def check_request(route: str, body: bytes, settings: ServiceSettings) -> None:
    """Raise ApiError unless `body` is a request `route` can run as it stands."""
    model = REQUESTS[route]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ApiError(
            400,
            "invalid_utf8",
            f"the request body is not valid UTF-8 (byte {err.start}: {err.reason}); encode "
            "the JSON as UTF-8",
        ) from None
    try:
        request = model.model_validate_json(text)
    except ValidationError as err:
        raise _schema_error(err.errors(include_url=False)[0], model) from None
    if isinstance(request, TagRequest):
        _check_text(request.text, "text", settings)
        _check_total([request.text], "text", settings)
        return
    assert isinstance(request, BatchRequest)
    if not request.texts:
        raise ApiError(
            422, "no_texts", f"texts is empty; send 1 to {settings.max_docs} texts", "texts"
        )
    if len(request.texts) > settings.max_docs:
        raise ApiError(
            413,
            "too_many_texts",
            f"texts has {len(request.texts)} documents, more than the limit of "
            f"{settings.max_docs} per request (CONFLICT_TAGGER_MAX_DOCS); send them in "
            "several requests",
            "texts",
        )
    for i, item in enumerate(request.texts):
        _check_text(item, f"texts[{i}]", settings)
    _check_total(request.texts, "texts", settings)


def _check_total(texts: list[str], field: str, settings: ServiceSettings) -> None:
    total = sum(len(t) for t in texts)
    if total > settings.max_total_chars:
        raise ApiError(
            413,
            "too_much_text",
            f"{field} holds {total} characters in all, more than the limit of "
            f"{settings.max_total_chars} per request (CONFLICT_TAGGER_MAX_TOTAL_CHARS); "
            "send the text in several requests",
            field,
        )


def body_limit(route: str, settings: ServiceSettings) -> int:
    """The largest body a valid request can have: JSON escapes take at most 6 bytes a
    character (\\uXXXX), plus room for quotes, commas and the key."""
    docs = 1 if REQUESTS[route] is TagRequest else settings.max_docs
    chars = min(docs * settings.max_chars, settings.max_total_chars)
    return 6 * chars + 8 * docs + 1024


# --- the guard in front of every route -----------------------------------------------


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value)
    return None


def _is_public(path: str, method: str) -> bool:
    # Probes must work without secrets, the demo page asks for the token itself, and CORS
    # preflights never carry credentials.
    if method == "OPTIONS" or path in ("/livez", "/healthz", "/readyz"):
        return True
    return path == "/demo" or path.startswith("/demo/")


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


def _model_headers() -> list[tuple[bytes, bytes]]:
    try:
        tagger: Tagger = bentoml.get_current_service().tagger
    except BentoMLException:  # not started yet
        return []
    info = tagger.info
    return [(b"x-model-name", info.name.encode()), (b"x-model-version", info.version.encode())]


class RequestGuard:
    """ASGI middleware: bearer-token check, then the checks above for the tagging routes, so
    BentoML's handlers only ever see valid input; adds the model headers to every reply."""

    def __init__(self, app: ASGIApp, settings: ServiceSettings | None = None) -> None:
        self.app = app
        self.settings = settings or ServiceSettings()
        token = self.settings.token
        self.token_digest = _digest(token.get_secret_value().encode()) if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = self._with_model_headers(send)
        try:
            self._authorize(scope)
            if scope["method"] == "POST" and scope["path"] in REQUESTS:
                body = await self._read_body(scope, receive)
                if body is None:
                    return  # the client went away
                check_request(scope["path"], body, self.settings)
                scope = _as_json(scope)
                receive = _replay(body, receive)
        except ApiError as err:
            await err.response(_challenge(err))(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _authorize(self, scope: Scope) -> None:
        if self.token_digest is None or _is_public(scope["path"], scope["method"]):
            return
        header = _header(scope, b"authorization") or b""
        scheme, _, given = header.partition(b" ")
        if scheme.lower() != b"bearer" or not given.strip():
            raise ApiError(
                401,
                "unauthorized",
                "this server needs a token: send the header 'Authorization: Bearer <token>' "
                "with the token the server was started with (CONFLICT_TAGGER_TOKEN)",
                "Authorization",
            )
        if not hmac.compare_digest(_digest(given.strip()), self.token_digest):
            raise ApiError(
                401,
                "invalid_token",
                "the bearer token is wrong; send the token the server was started with "
                "(CONFLICT_TAGGER_TOKEN)",
                "Authorization",
            )

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        _check_content_type(scope)
        limit = body_limit(scope["path"], self.settings)
        too_large = ApiError(
            413,
            "body_too_large",
            f"the request body is larger than {limit} bytes, the most a valid request to "
            f"{scope['path']} can need (see CONFLICT_TAGGER_MAX_CHARS, _MAX_DOCS and "
            "_MAX_TOTAL_CHARS); send fewer or shorter texts",
        )
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    def _with_model_headers(send: Send) -> Send:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_model_headers()]
            await send(message)

        return sending


def _challenge(err: ApiError) -> dict[str, str]:
    if err.status != 401:
        return {}
    value = 'Bearer realm="conflict-tagger"'
    if err.code == "invalid_token":
        value += ', error="invalid_token"'
    return {"WWW-Authenticate": value}


def _check_content_type(scope: Scope) -> None:
    raw = (_header(scope, b"content-type") or b"").decode("latin-1").lower()
    media, _, params = raw.partition(";")
    media = media.strip()
    charset = next(
        (p.split("=", 1)[1].strip(' "') for p in params.split(";") if "charset=" in p), "utf-8"
    )
    encoding = (_header(scope, b"content-encoding") or b"identity").decode("latin-1").strip()
    ok_media = media in _JSON_TYPES | _JSON_TYPES_LENIENT or media.endswith("+json")
    if not ok_media or charset.replace("-", "") != "utf8" or encoding.lower() != "identity":
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the body as uncompressed UTF-8 JSON with 'Content-Type: application/json' "
            f"(got Content-Type {raw or 'none'!r}, Content-Encoding {encoding!r})",
            "Content-Type",
        )


def _as_json(scope: Scope) -> Scope:
    # BentoML picks its parser from Content-Type; the body is checked JSON by now.
    headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-type"]
    return {**scope, "headers": [*headers, (b"content-type", b"application/json")]}


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


# --- metadata and the demo page ------------------------------------------------------


def describe(tagger: Tagger, settings: ServiceSettings) -> dict[str, Any]:
    """What `/metadata` returns: enough to know exactly which model answers."""
    m = tagger.artifact.manifest
    encoder = str(m.get("base_encoder", {}).get("name", ""))
    return {
        "model": tagger.info.model_dump(),
        "created": m.get("created"),
        "schema_version": m.get("schema_version"),
        # A local encoder folder would leak a path of the training machine.
        "base_encoder": Path(encoder).name if encoder.startswith("/") else encoder,
        "precision": tagger.settings.precision,
        "labels": label_lists(),
        "metrics": m.get("metrics", {}),
        "thresholds": m.get("thresholds", {}),
        "windows": m.get("windows", {}),
        "licences": m.get("licences", []),
        "limits": {
            "max_chars": settings.max_chars,
            "max_docs": settings.max_docs,
            "max_total_chars": settings.max_total_chars,
        },
    }


async def metadata(_: Request) -> Response:
    svc = bentoml.get_current_service()
    return JSONResponse(describe(svc.tagger, svc.settings))


_PAGE_HEADERS: Final = {
    # Inline script and style only, and requests only to this server: no CDN can load.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


async def demo(_: Request) -> Response:
    return FileResponse(STATIC / "demo.html", media_type="text/html", headers=_PAGE_HEADERS)


web = Starlette(
    routes=[
        Route("/metadata", metadata, methods=["GET"]),
        Route("/demo", demo, methods=["GET"]),
        Route("/demo/", demo, methods=["GET"]),
    ]
)


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


TIMEOUT_S = 300

API_DESCRIPTION = """Tags political-conflict news: entities (actors, weapons, places, dates),
the roles they play in events, document and sentence event types, and event records.

- `POST /tag` with `{"text": "..."}`: one result.
- `POST /tag_batch` with `{"texts": ["...", ...]}`: `{"results": [...]}`, in input order.
- `POST /tag_adaptive` with `{"texts": ["..."]}`: a list of results. For many concurrent
  clients with one document each: the server merges concurrent requests into one model call.
- `GET /metadata`: the model, its labels, metrics, thresholds, licences and the limits.
- `GET /demo`: a page to try it.

Every response names the model in the `X-Model-Name` and `X-Model-Version` headers. Refused
requests get `{"error": "what is wrong and what to do", "code": "...", "field": "..."}` with
400 (not JSON, not UTF-8), 401 (token missing or wrong: send `Authorization: Bearer <token>`),
413 (text, document count or body over the limits in `/metadata`), 415 (not JSON) or 422
(wrong types or fields, empty text). Offsets count Unicode code points.
"""


@bentoml.service(
    description=API_DESCRIPTION,
    envs=_service_envs(),
    # One worker: ONNX Runtime already uses every core, and each worker holds the model.
    workers=1,
    traffic={"timeout": TIMEOUT_S},
)
@bentoml.asgi_app(web, path="/")
class ConflictTagger:
    """Tags political-conflict news: entities, event roles, event types and event records."""

    model = DECLARED_MODEL  # what `bentoml build` packages (None for an artifact folder)

    def __init__(self) -> None:
        self.settings = ServiceSettings()
        self.tagger = load_tagger(MODEL_REF, DECLARED_MODEL)
        logger.info("serving %s %s", self.tagger.info.name, self.tagger.info.version)

    @on_deployment
    @staticmethod
    def check_model() -> None:
        """Stop `bentoml serve` before it starts workers when there is no model to load."""
        find_model(MODEL_REF, DECLARED_MODEL)

    @api(route="/tag")
    def tag(self, text: Text) -> Result:
        """Tag one document."""
        return self.tagger.tag([text])[0]

    @api(route="/tag_batch")
    def tag_batch(self, texts: Texts) -> TagBatchResults:
        """Tag several documents in one call; results come back in input order."""
        return TagBatchResults(results=self.tagger.tag(texts))

    # The dispatcher cancels (503) jobs it expects to exceed max_latency_ms: no sooner than
    # the traffic timeout would, so a valid request is never cut short by batching.
    @api(
        route="/tag_adaptive",
        batchable=True,
        max_batch_size=64,
        max_latency_ms=TIMEOUT_S * 1000,
    )
    def tag_adaptive(self, texts: Texts) -> list[Result]:
        """Tag documents with adaptive batching: concurrent requests share model calls.
        Send `{"texts": [one document]}`; the reply is a JSON array of results."""
        return self.tagger.tag(texts)


# mypy sees the class, not the bentoml.Service the decorator made of it.
cast(Any, ConflictTagger).add_asgi_middleware(RequestGuard)
