"""`conflict-tagger retrain`: fold corrected annotations into a new model, gated."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

REJECTED = 2  # the exit code of a run whose candidate the gate turned down


def retrain(
    ctx: typer.Context,
    new: Annotated[
        list[Path],
        typer.Option(
            help="Corrected annotations: project records or corrected `label` output (JSONL, "
            "Parquet), a Label Studio JSON export, or CoNLL. Repeat for several files."
        ),
    ],
    config: Annotated[
        Path | None,
        typer.Option(help="Training recipe (default: the one the production model was made with)."),
    ] = None,
    work: Annotated[
        Path, typer.Option(help="Work folder: corrections so far, candidates, step records.")
    ] = Path("runs/retrain"),
    parent: Annotated[
        str, typer.Option(help="The model to beat: `production`, a registry tag or an artifact.")
    ] = "production",
    text_field: Annotated[
        str, typer.Option(help="The text field of JSONL/Parquet input.")
    ] = "text",
    dev_percent: Annotated[
        int, typer.Option(min=1, max=90, help="Share of new texts kept for the dev slice.")
    ] = 20,
    min_slice: Annotated[
        int,
        typer.Option(
            min=1,
            help="Fewest dev corrections in each half of the dev slice: one picks the "
            "candidate's epoch and thresholds, the other is the gate's alone.",
        ),
    ] = 2,
    weight: Annotated[
        float, typer.Option(help="How often a correction is drawn per epoch (1: like any record).")
    ] = 3.0,
    margin: Annotated[
        float,
        typer.Option(
            help="Largest drop allowed on a dataset's dev figure (0.01: 1 point), "
            "against production and the lineage's first model."
        ),
    ] = 0.01,
    min_gain: Annotated[
        float, typer.Option(help="The gain needed on the new data's dev slice (strictly more).")
    ] = 0.0,
    promote: Annotated[
        bool, typer.Option(help="Promote a candidate that passes the gate to production.")
    ] = True,
    reload_url: Annotated[
        str | None,
        typer.Option(help="A running service to reload after a promotion (http://host:3000)."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show training progress bars.")] = True,
) -> None:
    """Import, validate, merge, slice, train, export, evaluate, gate, register and promote; steps
    whose inputs did not change are skipped. Extra `--section.key value` pairs override the
    recipe. Exits 2 when the gate rejects the candidate."""
    from training.corrections import CorrectionsError
    from training.gate import GateRules
    from training.retrain import RetrainOptions
    from training.retrain import retrain as run

    options = RetrainOptions(
        new=new, work=work, config=config, overrides=list(ctx.args), parent=parent,
        text_field=text_field, dev_percent=dev_percent, min_slice=min_slice, weight=weight,
        rules=GateRules(margin=margin, min_gain=min_gain), promote=promote,
        reload_url=reload_url, token=os.environ.get("CONFLICT_TAGGER_TOKEN") or None,
        progress=progress,
    )  # fmt: skip
    try:
        result = run(options, log=typer.echo)
    except (FileNotFoundError, ValueError, CorrectionsError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(f"gate report: {result.report}")
    if not result.gate.accepted:
        raise typer.Exit(code=REJECTED)
