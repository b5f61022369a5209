"""Calls to a running service that the command line needs, with the standard library only.

`reload_service` asks a service to load the model its `CONFLICT_TAGGER_MODEL` names now
(`POST /reload`): after `conflict-tagger models promote` or `rollback`, that is how the new
production model reaches a service that is already running.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def reload_service(url: str, token: str | None = None, timeout: float = 60) -> dict[str, Any]:
    """`POST {url}/reload` and return the reply: `{"previous": {"name", "version"},
    "current": {...}, "changed": bool, "model_ref": ...}`. `url` is the service's base URL
    (a URL already ending in /reload is used as it is); `token` is its CONFLICT_TAGGER_TOKEN.
    Raises ValueError with the server's message on a non-2xx reply, and with the reason when
    the service cannot be reached or does not answer with JSON."""
    base = url.strip().rstrip("/")
    if not base.lower().startswith(("http://", "https://")):
        raise ValueError(f"{url!r} is not an http(s) URL; give the service's address, such as "
                         "http://127.0.0.1:3000")  # fmt: skip
    target = base if base.endswith("/reload") else f"{base}/reload"
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token.strip()}"
    request = urllib.request.Request(target, data=b"", headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as err:
        raise ValueError(f"POST {target} failed with HTTP {err.code}: {_message(err)}") from None
    except (urllib.error.URLError, TimeoutError) as err:
        reason = getattr(err, "reason", err)
        raise ValueError(
            f"cannot reach {target} ({reason}); check the URL and that the service is running"
        ) from None
    try:
        reply = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        reply = None
    if not isinstance(reply, dict):
        raise ValueError(f"POST {target} did not answer with a JSON object: {body[:200]!r}")
    return reply


def _message(err: urllib.error.HTTPError) -> str:
    """The server's `{"error": ...}` message, else the start of its reply."""
    try:
        raw = err.read()
    except OSError:
        raw = b""
    try:
        reply = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        reply = None
    if isinstance(reply, dict) and isinstance(reply.get("error"), str):
        code = reply.get("code")
        return f"{reply['error']} ({code})" if code else str(reply["error"])
    return raw[:200].decode("utf-8", "replace") or str(err.reason)
