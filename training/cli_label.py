"""`conflict-tagger label IN OUT`: tag a whole file offline (serving.labeling does the work).

The main CLI registers it with `app.command("label")(label)`. The labeling engine (and
pyarrow, ONNX Runtime) is imported inside the command, so `--help` stays instant.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer


class OutputFormat(StrEnum):
    JSONL = "jsonl"
    PARQUET = "parquet"


class Engine(StrEnum):
    LOCAL = "local"
    RAY = "ray"


class PrecisionChoice(StrEnum):
    INT8 = "int8"
    FP32 = "fp32"


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


def label(
    input_path: Annotated[
        str,  # not Path: a URI (--engine ray) must keep its "//"
        typer.Argument(
            metavar="IN",
            help="Records to tag: .jsonl, .jsonl.gz, .ndjson, .csv or .parquet; with "
            "--engine ray also a URI Ray can read (s3://..., gs://...).",
        ),
    ],
    output: Annotated[
        Path,
        typer.Argument(metavar="OUT", help="Where to write them: .jsonl or .parquet."),
    ],
    model: Annotated[
        str,
        typer.Option(help="An exported artifact folder, a registry tag, or `production`."),
    ] = "production",
    text_field: Annotated[str, typer.Option(help="The field holding the text to tag.")] = "text",
    id_field: Annotated[
        str, typer.Option(help="The field that identifies a record in the errors file.")
    ] = "id",
    workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Worker processes (default: one per core, each with one ONNX Runtime "
            "thread; at most one per core; 0: tag in this process).",
        ),
    ] = None,
    batch_docs: Annotated[
        int, typer.Option(min=1, help="Records per batch sent to a worker, at most.")
    ] = 256,
    batch_chars: Annotated[
        int, typer.Option(min=1, help="Characters per batch sent to a worker, at most.")
    ] = 65_536,
    errors: Annotated[
        Path | None,
        typer.Option(help="Where records that cannot be tagged go (default: OUT.errors.jsonl)."),
    ] = None,
    output_format: Annotated[
        OutputFormat | None,
        typer.Option("--format", help="Output format (default: from OUT's extension)."),
    ] = None,
    max_chars: Annotated[
        int, typer.Option(min=1, help="Longer texts are not tagged but reported as errors.")
    ] = 200_000,
    drop_text: Annotated[
        bool, typer.Option(help="Leave the text field out of the output records.")
    ] = False,
    precision: Annotated[
        PrecisionChoice | None,
        typer.Option(
            help="Graph to run (default: $CONFLICT_TAGGER_PRECISION, else int8 where it "
            "passed parity at export, fp32 otherwise)."
        ),
    ] = None,
    checkpoint_seconds: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="JSONL output: make progress durable (fsync + checkpoint) at most this often; "
            "a killed run redoes at most this much work.",
        ),
    ] = 1.0,
    part_rows: Annotated[
        int,
        typer.Option(min=1, help="Parquet output: rows per part file (the unit of a checkpoint)."),
    ] = 5_000,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    engine: Annotated[
        Engine,
        typer.Option(
            help="local: worker processes on this machine; ray: actors on a Ray cluster "
            "(needs pip install 'conflict-tagger[ray]'). Same output either way."
        ),
    ] = Engine.LOCAL,
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray engine: the cluster to join (auto, ray://HOST:10001; default: start "
            "Ray on this machine with its cores)."
        ),
    ] = None,
    actors: Annotated[
        int | None,
        typer.Option(min=1, help="Ray engine: tagging actors (default: as many as fit)."),
    ] = None,
    cpus_per_actor: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Ray engine: CPUs each actor reserves, and its ONNX Runtime threads (default 1).",
        ),
    ] = None,
) -> None:
    """Tag every record of a JSONL, CSV or Parquet file into JSONL or Parquet.

    An output record is the input record plus `tags`, the result as JSON.
    Records that cannot be tagged go to the errors file, with the reason.
    Interrupted? Rerun the same command: it resumes where it stopped.
    A finished job writes OUT.done.json; rerunning it does nothing.
    """
    from serving.labeling import LabelingError, LabelJob, RayOptions, label_file, label_with_ray

    ray_only = {"--address": address, "--actors": actors, "--cpus-per-actor": cpus_per_actor}
    if engine == Engine.LOCAL and any(v is not None for v in ray_only.values()):
        given = ", ".join(k for k, v in ray_only.items() if v is not None)
        _fail(f"{given}: only for --engine ray")
    if engine == Engine.RAY and workers is not None:
        _fail(
            "--workers is for --engine local; with --engine ray use --actors and --cpus-per-actor"
        )
    job = LabelJob(
        input=Path(input_path),
        output=output,
        model=model,
        text_field=text_field,
        id_field=id_field,
        workers=workers,
        batch_docs=batch_docs,
        batch_chars=batch_chars,
        errors=errors,
        format=output_format.value if output_format else None,
        max_chars=max_chars,
        drop_text=drop_text,
        precision=precision.value if precision else None,
        progress=progress,
        commit_seconds=checkpoint_seconds,
        part_rows=part_rows,
    )

    def log(message: str) -> None:
        typer.echo(message, err=True)

    try:
        if engine == Engine.RAY:
            uri = input_path if "://" in input_path else None
            options = RayOptions(address, actors, cpus_per_actor or 1, uri)
            summary = label_with_ray(job, options, log=log)
        else:
            summary = label_file(job, log=log)
    except (LabelingError, ValueError, OSError) as err:
        _fail(str(err))
    except KeyboardInterrupt:
        _fail(f"interrupted; rerun the same command to resume {output}")
    if summary.already_done:
        typer.echo(f"{output} is already complete ({summary.text()}); nothing to do")
        return
    typer.echo(summary.text())
