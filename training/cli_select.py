"""`conflict-tagger select LABELED`: the documents to correct first, as Label Studio tasks
(training.select does the work).

The main CLI registers it with `app.command("select")(select)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


def select(
    labeled: Annotated[
        Path,
        typer.Argument(
            metavar="LABELED", help="Output of `conflict-tagger label`: .jsonl(.gz) or .parquet."
        ),
    ],
    n: Annotated[int, typer.Option("--n", min=1, help="How many documents to pick.")] = 200,
    out: Annotated[
        Path | None,
        typer.Option(help="Label Studio tasks to write (default: LABELED with .tasks.json)."),
    ] = None,
    text_field: Annotated[str, typer.Option(help="The field holding the text.")] = "text",
    id_field: Annotated[
        str, typer.Option(help="The field that identifies a record (kept in each task).")
    ] = "id",
    pool: Annotated[
        int,
        typer.Option(
            min=1, help="Keep the POOL * N most uncertain records, then pick diverse ones."
        ),
    ] = 5,
) -> None:
    """Pick the N documents the model is least sure of, unlike each other, for correction.

    Writes Label Studio tasks with the model's spans and event types as predictions, and
    the project's labeling config beside them.
    """
    from training.select import SelectError, tasks_path
    from training.select import select as run

    target = out or tasks_path(labeled)
    try:
        summary = run(labeled, n, target, text_field=text_field, id_field=id_field, pool=pool)
    except (SelectError, ValueError, OSError) as err:
        _fail(str(err))
    typer.echo(summary.text())
    typer.echo(
        "In Label Studio: create a project; in Settings > Labeling Interface > Code paste "
        f"{summary.config}; import {summary.tasks} (Import > upload the JSON). When the "
        "corrections are done, export the project as JSON and pass it to "
        "`conflict-tagger retrain --new EXPORT.json`."
    )
