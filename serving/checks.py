"""What the service accepts: its settings, the request bodies and the limits on them.

The limits are read from the environment when the app starts: `CONFLICT_TAGGER_MAX_CHARS`
per text (200000), `CONFLICT_TAGGER_MAX_DOCS` per request (64) and
`CONFLICT_TAGGER_MAX_TOTAL_CHARS` per request (1000000), in characters as Python counts
them (code points, as the result offsets do). The total keeps one request within the 300 s
traffic timeout, which 64 texts of 200000 characters would not be. Every refusal is an
`ApiError`, sent as `{"error": message, "code": ..., "field": ...}`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.responses import JSONResponse


class ServiceSettings(BaseSettings):
    """Request limits and the optional token, from CONFLICT_TAGGER_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="CONFLICT_TAGGER_", extra="ignore")

    max_chars: int = Field(200_000, ge=1)  # per document, in Unicode code points
    max_docs: int = Field(64, ge=1)  # per request
    # Per request, all documents together: bounds the work one request can ask for, so it
    # ends within the traffic timeout (~4,000-20,000 characters/s on 2 busy CPU cores).
    max_total_chars: int = Field(1_000_000, ge=1)
    # Per request, all documents together, counted by the model's tokenizer before any
    # model work: 200,000 characters of punctuation are 200,000 tokens (minutes of model
    # time on 2 cores), news prose of that length about 45,000.
    max_tokens: int = Field(100_000, ge=1)
    # Tokens per character of a request over one window's worth of tokens: model time goes
    # by tokens, and news prose makes about 0.2 a character, random letters and symbols up
    # to 1. Above this a request would cost several times what its length promises.
    max_tokens_per_char: float = Field(0.5, gt=0)
    # Seconds of model work already waiting (queued tokens at the measured speed) above
    # which new tagging requests get 503 with Retry-After at once, instead of every
    # waiting client timing out. A request into an idle model is always taken.
    max_wait_s: float = Field(10.0, gt=0)
    # Tokens one model call may merge from concurrent requests (a request over it runs
    # alone): a short request is never answered only after someone's 100,000 tokens.
    call_tokens: int = Field(16_384, ge=1)
    token: SecretStr | None = None
    # `POST /reload` swaps the served model: closed unless a token guards it, or this is
    # set on a machine where everyone who can reach the port may do that.
    allow_open_reload: bool = False

    @field_validator("token")
    @classmethod
    def _blank_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        # A token read from a file often ends in a newline; an empty one would accept
        # `Authorization: Bearer ` and only look like auth is on.
        token = value.get_secret_value().strip() if value is not None else ""
        return SecretStr(token) if token else None


class ApiError(Exception):
    """A request the service refuses; `message` says what is wrong and what to do."""

    def __init__(
        self, status: int, code: str, message: str, field: str | None = None,
        retry_after: int | None = None,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.retry_after = retry_after  # seconds, for 503

    def response(self, headers: Mapping[str, str] | None = None) -> JSONResponse:
        body = {"error": self.message, "code": self.code, "field": self.field}
        return JSONResponse(body, status_code=self.status, headers=headers)


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class TagRequest(_Strict):
    text: str


class BatchRequest(_Strict):
    texts: list[str]


REQUESTS: Final[dict[str, type[_Strict]]] = {
    "/tag": TagRequest,
    "/tag_batch": BatchRequest,
    "/tag_adaptive": BatchRequest,
}
_EXAMPLES: Final = {TagRequest: '{"text": "..."}', BatchRequest: '{"texts": ["...", "..."]}'}
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


def check_request(route: str, body: bytes, settings: ServiceSettings) -> list[str]:
    """The request's texts; ApiError unless `body` is a request `route` can run as it stands."""
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
        _check_total([request.text], "text", settings)  # the total limit may be the lower
        return [request.text]
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
    return request.texts


def check_load(wait_s: float, settings: ServiceSettings) -> None:
    """503 when the model already has more work waiting than the service takes on."""
    if wait_s > settings.max_wait_s:
        retry = max(1, min(60, math.ceil(wait_s - settings.max_wait_s)))
        raise ApiError(
            503,
            "overloaded",
            f"the model has about {wait_s:.0f} s of work waiting, more than the limit of "
            f"{settings.max_wait_s:g} s (CONFLICT_TAGGER_MAX_WAIT_S); retry after the "
            f"number of seconds in the Retry-After header ({retry})",
            retry_after=retry,
        )


def check_tokens(route: str, tokens: int, chars: int, settings: ServiceSettings) -> None:
    """413 when the request's texts come to more tokens than one request may ask for, or,
    past one window's worth (DENSE_FROM tokens), to more tokens per character than prose."""
    field = "text" if REQUESTS[route] is TagRequest else "texts"
    if tokens > settings.max_tokens:
        raise ApiError(
            413,
            "too_many_tokens",
            f"{field} comes to {tokens} tokens, more than the limit of {settings.max_tokens} "
            "per request (CONFLICT_TAGGER_MAX_TOKENS); text that is mostly punctuation, "
            "symbols or rare characters makes many tokens: send it in several requests, "
            "or clean it first",
            field,
        )
    if tokens > DENSE_FROM and tokens > settings.max_tokens_per_char * chars:
        raise ApiError(
            413,
            "too_many_tokens",
            f"{field} comes to {tokens} tokens for {chars} characters "
            f"({tokens / chars:.2f} a character), more than the limit of "
            f"{settings.max_tokens_per_char:g} a character for requests over {DENSE_FROM} "
            "tokens (CONFLICT_TAGGER_MAX_TOKENS_PER_CHAR); news prose makes about 0.2. "
            "Random letters, symbols or scripts the model does not read make a token of "
            "almost every character: clean the text first",
            field,
        )


# Past this many tokens a request is held to `max_tokens_per_char`: shorter ones cost
# little whatever they hold.
DENSE_FROM: Final = 256


# Bytes one character can take in a JSON body: a character outside the Basic Multilingual
# Plane (an emoji) escaped as a surrogate pair, "\\ud83d\\ude00".
JSON_BYTES_PER_CHAR: Final = 12


def body_limit(route: str, settings: ServiceSettings) -> int:
    """The largest body a valid request can have: every character escaped at its longest,
    plus room for quotes, commas and the key. Limits on text are checked after parsing, in
    characters, so a text within them is never refused for the way its JSON was written."""
    docs = 1 if REQUESTS[route] is TagRequest else settings.max_docs
    chars = min(docs * settings.max_chars, settings.max_total_chars)
    return JSON_BYTES_PER_CHAR * chars + 8 * docs + 1024
