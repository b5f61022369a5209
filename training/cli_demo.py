"""`conflict-tagger demo`: the README's main job, with the serving install alone.

Registers an artifact (by default the release model shipped in models/) if the registry
does not hold it yet, and promotes it when nothing is in production; starts the HTTP
service on localhost, tags the sample article through it, prints the result and the demo
page's address, and keeps serving until Ctrl-C. Nothing here needs torch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer


def _register(artifact: Path) -> str:
    from serving import registry

    done = registry.register_artifact(artifact)  # an artifact already stored keeps its tag
    if done.new:
        typer.echo(f"registered {artifact} as {done.tag}")
    current = registry.production()
    if current is None:
        registry.promote(done.tag)
        typer.echo(f"promoted {done.tag} to production")
        return done.tag
    if current != done.tag:
        typer.echo(f"serving the production model {current} (this artifact is {done.tag})")
    return current


def _get(url: str, timeout: float) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except (urllib.error.URLError, OSError):
        return 0


def _wait_ready(server: subprocess.Popen[bytes], base: str, log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"the service stopped during start-up; its log ({log}):\n{tail}")
        if _get(f"{base}/readyz", 2) == 200:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the service was not ready after {seconds:.0f} s; see {log}")


def _tag(base: str, text: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{base}/tag", data=json.dumps({"text": text}).encode(), method="POST",
        headers={"Content-Type": "application/json"} | _auth(),
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=300) as response:
        result: dict[str, Any] = json.load(response)
    return result


def _auth() -> dict[str, str]:
    token = os.environ.get("CONFLICT_TAGGER_TOKEN", "").strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


def demo(
    artifact: Annotated[
        Path | None,
        typer.Option(help="The artifact to serve (registered if new); default: models/'s release."),
    ] = None,
    sample: Annotated[Path, typer.Option(help="The article to tag.")] = Path(
        "data/samples/article.txt"
    ),
    port: Annotated[int, typer.Option(help="Port on localhost.")] = 3000,
    wait: Annotated[
        bool, typer.Option(help="Keep serving until Ctrl-C (--no-wait: stop after tagging).")
    ] = True,
    log: Annotated[Path, typer.Option(help="The service's log file.")] = Path(
        "runs/demo-service.log"
    ),
) -> None:
    """Register the shipped model, serve it, tag the sample article, show the demo page."""
    from serving.artifact import ArtifactError, shipped
    from serving.registry import RegistryError

    try:
        tag = _register(artifact or shipped())
        text = sample.read_text(encoding="utf-8")
    except (ArtifactError, RegistryError, OSError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    log.parent.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{port}"
    env = os.environ | {"CONFLICT_TAGGER_MODEL": tag}
    command = [sys.executable, "-m", "bentoml", "serve", "serving.service:ConflictTagger",
               "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        typer.echo(f"starting the service with {tag} on {base} (log: {log}) ...")
        _wait_ready(server, base, log, 180)
        result = _tag(base, text)
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
        typer.echo(
            f"\ntagged {sample}: {len(result['entities'])} entities, {len(result['roles'])} "
            f"roles, {len(result['events'])} events; model {result['model']['version']}"
        )
        typer.echo(f"demo page: {base}/demo   API docs: {base}/")
        if wait:
            typer.echo("serving until Ctrl-C")
            server.wait()
    except (RuntimeError, urllib.error.URLError, OSError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        pass
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
