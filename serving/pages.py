"""The service's GET routes, `/metadata` and the demo page `/demo`, as a Starlette app:
BentoML APIs are POST only, so the service mounts this app with `bentoml.asgi_app`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Protocol

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from serving.checks import ServiceSettings
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


async def demo(_: Request) -> Response:
    return FileResponse(STATIC / "demo.html", media_type="text/html", headers=_PAGE_HEADERS)


def web(current: Callable[[], Running]) -> Starlette:
    """The app. `current` returns the running service (`bentoml.get_current_service`):
    passed in, so this module needs no BentoML."""

    async def metadata(_: Request) -> Response:
        svc = current()
        return JSONResponse(describe(svc.tagger, svc.settings))

    return Starlette(
        routes=[
            Route("/metadata", metadata, methods=["GET"]),
            Route("/demo", demo, methods=["GET"]),
            Route("/demo/", demo, methods=["GET"]),
        ]
    )
