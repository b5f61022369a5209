"""`RequestGuard`, the ASGI middleware in front of every route of the service.

It checks the token, then each tagging request (serving/checks.py) before BentoML parses
it, so BentoML's handlers only see valid input and no request body can cause a 5xx
(BentoML's own parse errors are vaguer 400s, and its 4xx exceptions serialize oddly).
Bodies larger than any valid request can be are refused while being read.

When `CONFLICT_TAGGER_TOKEN` is set, every request except `/livez`, `/healthz`, `/readyz`,
the demo page and CORS preflights needs `Authorization: Bearer <token>`; the token is
compared in constant time (`hmac.compare_digest` of sha256 digests, which also hides its
length). That includes `POST /reload`, which swaps the served model: it is never public.
Only the tagging routes (`REQUESTS`) have their body and Content-Type checked; `/reload` takes
no body, so an empty POST with or without a Content-Type passes (once authorized), and
anything sent is left unread.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from serving.checks import (
    REQUESTS,
    ApiError,
    ServiceSettings,
    body_limit,
    check_load,
    check_request,
    check_tokens,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

# curl -d sends application/x-www-form-urlencoded by default; the body is still JSON.
_JSON_TYPES: Final = {
    "",
    "application/json",
    "text/json",
    "text/plain",
    "*/*",
    "application/x-www-form-urlencoded",
}


def _no_headers() -> Headers:
    return []


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


def _unmeasured() -> float:
    return math.inf


def _no_tokens(texts: list[str]) -> int:
    del texts
    return 0


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


class RequestGuard:
    """ASGI middleware: bearer-token check, then the request checks for the tagging routes,
    so BentoML's handlers only ever see valid input. `model_headers` gives the headers
    added to every reply; the service passes it in, so this module needs no BentoML."""

    def __init__(
        self,
        app: ASGIApp,
        settings: ServiceSettings | None = None,
        model_headers: Callable[[], Headers] = _no_headers,
        count_tokens: Callable[[list[str]], int] = _no_tokens,
        speed: Callable[[], float] = _unmeasured,
    ) -> None:
        self.app = app
        self.settings = settings or ServiceSettings()
        self.model_headers = model_headers
        # Tokens the served model's tokenizer makes of the texts (the service passes it).
        self.count_tokens = count_tokens
        # Load shedding: tokens of the tagging requests taken and not yet answered, and the
        # model's measured tokens per second (the service passes the batcher's).
        self.in_flight = 0
        self.speed = speed
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
                texts = check_request(scope["path"], body, self.settings)
                # Shed load before any work; count tokens off the event loop (0.4 s for
                # 200,000 characters of "!"), so probes and other requests go on meanwhile.
                check_load(self.expected_wait(), self.settings)
                tokens = await asyncio.to_thread(self.count_tokens, texts)
                check_tokens(scope["path"], tokens, sum(map(len, texts)), self.settings)
                # Again, and taken in the same step (no await between): requests counted
                # at the same time would all have seen the model idle.
                check_load(self.expected_wait(), self.settings)
                self.in_flight += tokens
                try:
                    await _until_disconnect(self.app, _as_json(scope), body, receive, send)
                finally:
                    self.in_flight -= tokens
                return
        except ApiError as err:
            await err.response(_challenge(err))(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def expected_wait(self) -> float:
        """Seconds a request taken now would wait: the tokens of the requests taken and not
        yet answered, at the model's measured speed. An idle model: 0, always taken."""
        return self.in_flight / self.speed() if self.in_flight else 0.0

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

    def _with_model_headers(self, send: Send) -> Send:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.model_headers()]
            await send(message)

        return sending


def _challenge(err: ApiError) -> dict[str, str]:
    if err.status == 503:
        return {"Retry-After": str(err.retry_after or 1)}
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
    ok_media = media in _JSON_TYPES or media.endswith("+json")
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


async def _until_disconnect(
    app: ASGIApp, scope: Scope, body: bytes, receive: Receive, send: Send
) -> None:
    """Run the tagging route with the body already read, and cancel it if the client goes
    away first: its request then leaves the batcher's queue unrun (the model's time goes
    to clients still waiting) instead of being tagged for no one."""
    gone = asyncio.Event()
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()  # the watcher below owns the real receive
        return {"type": "http.disconnect"}

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()

    route = asyncio.ensure_future(app(scope, replay, send))
    watcher = asyncio.ensure_future(watch())
    try:
        await asyncio.wait({route, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if route.done():
            route.result()  # the route's own error, if any, goes up as before
            return
        route.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await route
        # Answer the closed connection all the same (the server drops it): BentoML's
        # timeout middleware around us waits for a response before it lets the request go.
        with contextlib.suppress(Exception):
            await send({"type": "http.response.start", "status": 499, "headers": []})
            await send({"type": "http.response.body", "body": b""})
    finally:
        route.cancel()
        watcher.cancel()
