"""`conflict-tagger models ...`: the model registry (serving.registry) from the command line.

The registry, and BentoML with it, is imported inside each command so `--help` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from serving.artifact import Artifact

models_app = typer.Typer(
    help="Register exported models in the BentoML store and choose the production one.",
    no_args_is_help=True,
)

Tag = Annotated[str, typer.Argument(help="A model tag (conflict-tagger:VERSION) or its prefix.")]


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


@models_app.command("list")
def list_cmd() -> None:
    """List the stored versions, oldest first; * marks production."""
    from serving.registry import home, list_models

    try:
        entries = list_models()
    except (ValueError, OSError) as err:
        _fail(str(err))
    if not entries:
        typer.echo(
            f"no models in {home() / 'models'}; add one with `conflict-tagger models register DIR`"
        )
        return
    for e in entries:
        mark = "*" if e.production else " "
        typer.echo(f"{mark} {e.tag}  {e.artifact_version}  {e.created}  {_size(e.size)}")


@models_app.command()
def register(
    artifact: Annotated[Path, typer.Argument(help="An exported artifact folder.")],
) -> None:
    """Verify an artifact folder and add it to the store as a new version."""
    from serving.registry import register_artifact

    try:
        done = register_artifact(artifact)
    except (ValueError, OSError) as err:
        _fail(str(err))
    if done.new:
        typer.echo(f"registered {artifact} as {done.tag}")
        typer.echo(f"serve it with `conflict-tagger models promote {done.tag}`")
    else:
        typer.echo(f"{artifact} is already registered as {done.tag}; nothing added")


@models_app.command()
def promote(tag: Tag) -> None:
    """Point the production alias at a stored version (its files are verified first)."""
    from serving.registry import production
    from serving.registry import promote as run

    try:
        before = production()
        after = run(tag)
    except (ValueError, OSError) as err:
        _fail(str(err))
    if before == after:
        typer.echo(f"{after} is already production")
    else:
        typer.echo(f"production: {after} (was {before or 'unset'})")


@models_app.command()
def rollback() -> None:
    """Point production back at the version promoted before the current one."""
    from serving.registry import production
    from serving.registry import rollback as run

    try:
        before = production()
        after = run()
    except (ValueError, OSError) as err:
        _fail(str(err))
    typer.echo(f"production: {after} (rolled back from {before})")


@models_app.command()
def delete(tag: Tag) -> None:
    """Delete one stored version for good (never the production one)."""
    from serving.registry import delete as run

    try:
        gone = run(tag)
    except (ValueError, OSError) as err:
        _fail(str(err))
    typer.echo(f"deleted {gone}")


@models_app.command()
def history() -> None:
    """Every promotion, rollback and deletion, oldest first."""
    from serving.registry import history as events

    try:
        log = events()
    except (ValueError, OSError) as err:
        _fail(str(err))
    if not log:
        typer.echo("no promotions yet")
    for event in log:
        typer.echo(f"{event.at}  {event.action:<8}  {event.tag}")


@models_app.command()
def show(
    ref: Annotated[
        str, typer.Argument(help="production, a tag or its prefix, or an artifact folder.")
    ],
) -> None:
    """Verify a model and print its manifest summary."""
    from serving.registry import production, resolve

    try:
        artifact = resolve(ref)
        current = production()
    except (ValueError, OSError) as err:
        _fail(str(err))
    for key, value in _summary(artifact, current).items():
        typer.echo(f"{key + ':':<16}{value}")


def _summary(artifact: Artifact, current: str | None) -> dict[str, str]:
    m = artifact.manifest
    tag = f"{artifact.path.parent.name}:{artifact.path.name}"
    training: dict[str, Any] = m.get("training", {})
    return {
        "path": str(artifact.path),
        "version": artifact.version,
        "production": "yes" if tag == current else "no",
        "created": str(m.get("created")),
        "base encoder": str(m.get("base_encoder", {}).get("name")),
        "schema version": str(m.get("schema_version")),
        "config sha256": str(training.get("config_sha256", ""))[:16],
        "data": str(training.get("data_fingerprint")),
        "epoch": str(training.get("epoch")),
        "code version": _pairs(m.get("code_version", {})),
        "windows": _pairs(m.get("windows", {})),
        "thresholds": _pairs(m.get("thresholds", {})),
        "metrics": _pairs(m.get("metrics", {})),
        "licences": ", ".join(m.get("licences", [])),
    }


def _pairs(values: dict[str, Any]) -> str:
    def fmt(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k} {fmt(v)}" for k, v in values.items()) or "-"
