"""The service's routes that are not BentoML APIs, as a Starlette app the service mounts with
`bentoml.asgi_app`: `GET /metadata` and the demo page `/demo` (BentoML APIs are POST only),
and `POST /reload`, which takes no body and answers with its own status codes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Protocol

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from serving.batcher import Batcher
from serving.checks import ApiError, ServiceSettings
from serving.schema import label_lists
from serving.tagger import Tagger

STATIC = Path(__file__).parent / "static"

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


class Running(Protocol):
    """What the pages need of the running service."""

    tagger: Tagger
    settings: ServiceSettings
    batcher: Batcher[Any]

    def reload_model(self) -> dict[str, Any]:
        """Load the model again (blocking); raises ApiError with the old one still served."""
        ...


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
            "max_tokens": settings.max_tokens,
            "max_tokens_per_char": settings.max_tokens_per_char,
            "max_wait_s": settings.max_wait_s,
            "call_tokens": settings.call_tokens,
        },
    }


async def demo(_: Request) -> Response:
    return FileResponse(STATIC / "demo.html", media_type="text/html", headers=_PAGE_HEADERS)


def web(current: Callable[[], Running]) -> Starlette:
    """The app. `current` returns the running service (`bentoml.get_current_service`):
    passed in, so this module needs no BentoML."""

    async def metadata(_: Request) -> Response:
        svc = current()
        b = svc.batcher
        queue = {
            "waiting_tokens": b.waiting, "tokens_per_s": round(b.rate),
            "skipped_cancelled": b.skipped,
            "thread_restarts": b.restarts,
        }  # fmt: skip
        return JSONResponse(describe(svc.tagger, svc.settings) | {"queue": queue})

    async def reload(_: Request) -> Response:
        svc = current()
        if svc.settings.token is None and not svc.settings.allow_open_reload:
            return ApiError(
                403,
                "reload_closed",
                "POST /reload is closed on a server without a token: start the server with "
                "CONFLICT_TAGGER_TOKEN set and send 'Authorization: Bearer <token>', or set "
                "CONFLICT_TAGGER_ALLOW_OPEN_RELOAD=1 where everyone who can reach the port "
                "may change the served model; or restart the server to load a new model",
            ).response()
        # Loading a model blocks for seconds: off the event loop, so other requests go on.
        try:
            return JSONResponse(await run_in_threadpool(svc.reload_model))
        except ApiError as err:
            return err.response()

    return Starlette(
        routes=[
            Route("/metadata", metadata, methods=["GET"]),
            Route("/reload", reload, methods=["POST"]),
            Route("/demo", demo, methods=["GET"]),
            Route("/demo/", demo, methods=["GET"]),
        ]
    )
