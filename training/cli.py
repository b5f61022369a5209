"""The `conflict-tagger` command line: thin wrappers over importable functions.

Heavy imports happen inside the commands, so `--help` is instant and nothing here pulls
torch into a process that only serves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from training.cli_demo import demo
from training.cli_label import label
from training.cli_models import models_app
from training.cli_retrain import retrain
from training.cli_select import select

app = typer.Typer(
    help="Tag actors, weapons, places, dates, roles and event types in conflict news.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Build, check and fetch the training corpus.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(models_app, name="models")
app.command("label")(label)
app.command("select")(select)
app.command("demo")(demo)
OVERRIDES = {"allow_extra_args": True, "ignore_unknown_options": True}  # --section.key value
app.command("retrain", context_settings=OVERRIDES)(retrain)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder holding the datasets (default: $CONFLICT_DATA_DIR, else ../shared/datasets).",
    ),
]
OutDir = Annotated[
    Path | None,
    typer.Option("--out", help="Where the corpus is written (default: data/work/corpus)."),
]
Only = Annotated[
    list[str] | None,
    typer.Option("--only", help="Only these collections (repeat the option for several)."),
]


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


@data_app.command("build")
def data_build(
    data_dir: DataDir = None,
    out: OutDir = None,
    only: Only = None,
    hf: Annotated[bool, typer.Option(help="Also build the Hugging Face Arrow caches.")] = True,
) -> None:
    """Convert every dataset into one validated corpus (JSONL per collection and split)."""
    from training.corpus.build import DEFAULT_OUT, convert_all, write_corpus
    from training.corpus.sources import data_dir as locate

    try:
        corpus = convert_all(locate(data_dir), only)
    except (FileNotFoundError, ValueError) as err:
        _fail(str(err))
    target = out or DEFAULT_OUT
    index = write_corpus(corpus, target)
    if hf:
        from training.corpus.hf import load_collection

        for name in index:
            load_collection(target, name)
    total = sum(s["records"] for e in index.values() for s in e["splits"].values())
    typer.echo(
        f"wrote {total} records in {len(index)} collections to {target} "
        f"({len(corpus.log.problems)} spans or records skipped; see `conflict-tagger data report`)"
    )


@data_app.command("report")
def data_report(
    data_dir: DataDir = None,
    only: Only = None,
    write: Annotated[
        Path | None,
        typer.Option(help="Update the report section of this Markdown file (e.g. data/README.md)."),
    ] = None,
) -> None:
    """Print counts per dataset, split and label, the overlaps found and the spans skipped."""
    from training.corpus.build import convert_all
    from training.corpus.report import render, replace_section
    from training.corpus.sources import data_dir as locate

    try:
        report = render(convert_all(locate(data_dir), only))
    except (FileNotFoundError, ValueError) as err:
        _fail(str(err))
    if write:
        write.write_text(replace_section(write.read_text(encoding="utf-8"), report), "utf-8")
        typer.echo(f"updated the report in {write}")
    else:
        typer.echo(report, nl=False)


@data_app.command("validate")
def data_validate(
    files: Annotated[list[Path], typer.Argument(help="JSONL files of corpus records.")],
) -> None:
    """Check records against the schema; every problem names the file, line and record."""
    from training.corpus.jsonlines import validate_jsonl

    bad = 0
    for path in files:
        if not path.is_file():
            _fail(f"{path} does not exist")
        for problem in validate_jsonl(path):
            typer.echo(problem, err=True)
            bad += 1
    if bad:
        _fail(f"{bad} problem(s) found")
    typer.echo(f"{len(files)} file(s) valid")


@data_app.command("fetch")
def data_fetch(
    dest: Annotated[Path, typer.Argument(help="Folder to download the datasets into.")],
    manifest: Annotated[
        Path | None, typer.Option(help="Data manifest (default: data/manifest.yaml).")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="A mirror that replaces the upstream host.")
    ] = None,
    dataset: Annotated[
        list[str] | None, typer.Option(help="Only these datasets (repeat for several).")
    ] = None,
) -> None:
    """Download the datasets from their upstream repositories at pinned commits."""
    from training.corpus.fetch import MANIFEST, FetchError, fetch

    try:
        result = fetch(dest, manifest or MANIFEST, base_url=base_url, datasets=dataset)
    except (FetchError, OSError, ValueError) as err:
        _fail(str(err))
    typer.echo(str(result))
    typer.echo(f"set CONFLICT_DATA_DIR={dest} to use them")


@app.command(context_settings=OVERRIDES)
def train(
    ctx: typer.Context,
    config: Annotated[
        Path, typer.Argument(help="Training recipe (YAML), e.g. configs/default.yaml.")
    ],
    output: Annotated[
        Path, typer.Option(help="Run folder: checkpoints, metrics log, the best model in model/.")
    ] = Path("runs/default"),
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Train (or resume) a model; extra `--section.key value` pairs override the config."""
    from training.config import load_config
    from training.evaluate import evaluate_all
    from training.train import train as run

    try:
        cfg = load_config(config, ctx.args)
        result = run(cfg, output, evaluate_all, progress=progress, log=typer.echo)
    except (FileNotFoundError, ValueError) as err:
        _fail(str(err))
    typer.echo(
        f"best dev score {result.best_score:.4f} after {result.epochs_run} epoch(s) in "
        f"{result.seconds / 60:.1f} min; model in {result.model_dir}"
    )


@app.command()
def evaluate(
    model: Annotated[
        Path, typer.Argument(help="A trained model folder, or an artifact with --backend.")
    ],
    dataset: Annotated[
        list[str], typer.Option(help="Collection(s) to score, e.g. re3d_conflibert.")
    ],
    split: Annotated[str, typer.Option(help="train, dev or test.")] = "dev",
    data_dir: DataDir = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the figures here.")
    ] = None,
    backend: Annotated[
        str, typer.Option(help="torch (a model folder), or fp32 / int8 (an exported artifact).")
    ] = "torch",
) -> None:
    """Score a trained model on collections with the metrics of the published numbers."""
    import json

    from training.evaluate import scores_for

    try:
        figures = scores_for(model, dataset, split, data_dir, backend)
    except (FileNotFoundError, ValueError) as err:
        _fail(str(err))
    for name, values in figures.items():
        typer.echo(f"{name} ({split}): main {values['main']:.4f}")
        for key, value in sorted(values.items()):
            if key != "main":
                typer.echo(f"  {key}: {value:.4f}")
    if json_out:
        json_out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


@app.command()
def export(
    model: Annotated[Path, typer.Argument(help="A trained model folder (runs/NAME/model).")],
    out_dir: Annotated[Path, typer.Argument(help="New folder for the artifact.")],
    tolerance: Annotated[
        float, typer.Option(help="Max |fp32 ONNX - torch| logit difference allowed.")
    ] = 1e-3,
    max_f1_diff: Annotated[
        float,
        typer.Option(
            help="int8 is served only if its main dev figure is within this of fp32's on "
            "every dev collection of the model's config (else it is kept but marked rejected)."
        ),
    ] = 0.005,
    min_agreement: Annotated[
        float,
        typer.Option(
            help="Min share of spans and of labels fp16-stored weights must agree with fp32 "
            "on (--weights fp16); for int8 the agreement is only recorded."
        ),
    ] = 0.99,
    per_channel: Annotated[bool, typer.Option(help="int8 scales per weight column.")] = True,
    reduce_range: Annotated[
        bool, typer.Option(help="7-bit weights (safe on CPUs without VNNI).")
    ] = True,
    int8: Annotated[bool, typer.Option(help="Also write the int8 graph.")] = True,
    weights: Annotated[
        str,
        typer.Option(
            help="fp32, or fp16: store the weights in half the space (computed in fp32; "
            "kept only if decoding agrees with fp32 on --min-agreement)."
        ),
    ] = "fp32",
) -> None:
    """Export to ONNX, fuse, quantize to int8, check parity, judge int8 on dev, and write
    the artifact."""
    from training.export import ExportError, ExportOptions
    from training.export import export as run

    if weights not in ("fp32", "fp16"):
        _fail(f"--weights is {weights!r}; use fp32 or fp16")
    options = ExportOptions(
        tolerance=tolerance, min_agreement=min_agreement, per_channel=per_channel,
        reduce_range=reduce_range, int8=int8, weights="fp16" if weights == "fp16" else "fp32",
        max_f1_diff=max_f1_diff,
    )  # fmt: skip
    try:
        run(model, out_dir, options, log=typer.echo)
    except (FileNotFoundError, FileExistsError, ValueError, ExportError) as err:
        _fail(str(err))


@app.command()
def release(
    artifact: Annotated[Path, typer.Argument(help="An exported artifact folder.")],
    model: Annotated[
        Path, typer.Option(help="The trained model it was exported from: its test figures.")
    ],
    changelog: Annotated[str, typer.Option(help="One line: what changed in this release.")],
    out: Annotated[Path | None, typer.Option(help="Folder of releases (default: models/).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Ship an artifact in models/ (replacing the previous release), with its test figures."""
    from training.benchmark import run_benchmark
    from training.release import ReleaseError, test_table
    from training.release import release as run

    try:
        figures = test_table(model, run_benchmark(model, data_dir))
        run(artifact, figures, changelog, out, log=typer.echo)
    except (FileNotFoundError, ValueError, ReleaseError) as err:
        _fail(str(err))


@app.command()
def thresholds(
    model: Annotated[Path, typer.Argument(help="A trained model folder (runs/NAME/model).")],
    all_dev: Annotated[
        bool,
        typer.Option(
            "--all-dev",
            help="Tune on every dev record, not the capped sample training picked epochs "
            "on (data.dev_max_records): steadier thresholds, longer to score.",
        ),
    ] = False,
) -> None:
    """Tune the model's label thresholds again on its dev records and save them with it."""
    from training.evaluate import retune_thresholds

    try:
        tuned = retune_thresholds(model, all_dev)
    except (FileNotFoundError, ValueError) as err:
        _fail(str(err))
    typer.echo("thresholds: " + ", ".join(f"{k} {v:.2f}" for k, v in tuned.items()))


@app.command()
def merge(
    base: Annotated[Path, typer.Argument(help="The model the specialists were fine-tuned from.")],
    specialist: Annotated[
        list[str],
        typer.Option(help="FOLDER[=HEAD,HEAD]: a specialist and the segment heads it owns."),
    ],
    output: Annotated[Path, typer.Option(help="The merged model folder (runs/NAME/model).")],
    scale: Annotated[float, typer.Option(help="Share of the specialists' weight changes.")] = 0.6,
    average_segment: Annotated[
        bool,
        typer.Option(
            help="Scale the segment head's changes like the rest (a later stage of the full "
            "recipe, not a single-dataset specialist): scale 0.5 averages two models."
        ),
    ] = False,
    mean: Annotated[
        bool,
        typer.Option(
            help="Scale the specialists' mean change, not their sum: with --average-segment, "
            "--mean --scale 1 averages the specialists (a soup of later stages)."
        ),
    ] = False,
) -> None:
    """Fold specialists into their base model (a model folder or an exported artifact),
    then tune its thresholds on every dev record."""
    from training.evaluate import retune_thresholds
    from training.merge import Specialist, record_dev
    from training.merge import merge as merge_models

    try:
        merge_models(
            base, [Specialist.parse(s) for s in specialist], scale, output, average_segment, mean
        )
        tuned = retune_thresholds(output, all_dev=True)
    except (FileNotFoundError, ValueError) as err:
        _fail(str(err))
    typer.echo(f"dev score (every dev record) {record_dev(output):.4f}")
    typer.echo(
        f"merged into {output}; thresholds: " + ", ".join(f"{k} {v:.2f}" for k, v in tuned.items())
    )


@app.command()
def tag(
    text: Annotated[str, typer.Argument(help="The text to tag, or - to read standard input.")],
    model: Annotated[
        str,
        typer.Option(
            help="A trained model folder (torch), or through ONNX Runtime at the served "
            "precision: `shipped` (models/), an artifact folder, a registry tag or `production`."
        ),
    ] = "shipped",
) -> None:
    """Tag one text and print the result as JSON."""
    import json
    import sys

    from serving.decode import decoded_json
    from serving.engine import Engine

    body = sys.stdin.read() if text == "-" else text
    if not body.strip():
        _fail("the text is empty: pass the article as an argument, or - and pipe it in")
    try:
        if not (Path(model) / "weights.pt").is_file():
            from serving.tagger import Tagger

            tagger = Tagger.from_artifact(model)  # the served path and precision
            out = tagger.tag([body])[0].model_dump(mode="json")
            out["model"] = f"{tagger.info.name} {tagger.info.version} ({tagger.precision})"
            typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
            return
        from training.backend import TorchBackend
        from training.checkpoint import load_model

        trained, tokenizer, settings, meta = load_model(model)
    except (FileNotFoundError, ValueError) as err:
        _fail(str(err))
    (result,) = Engine(tokenizer, TorchBackend(trained), settings).run([body])
    out = {"model": f"{model} (torch)"} | decoded_json(body, result, meta.get("thresholds"))
    typer.echo(json.dumps(out, indent=2, ensure_ascii=False))


@app.command("benchmark-accuracy")
def benchmark_accuracy(
    model: Annotated[
        list[str],
        typer.Option(
            help="NAME=DIR[,DIR...]: one column; several folders are seeds (mean ± sd) or "
            "one model per dataset (each scored on what it trained on). Repeat for columns."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Markdown report to write.")] = Path(
        "benchmarks/accuracy.md"
    ),
    notes: Annotated[Path | None, typer.Option(help="Markdown to put above the table.")] = None,
    fresh: Annotated[
        bool, typer.Option(help="Score again even where a model folder holds cached scores.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Run the whole accuracy table and write it, with the command, hashes and date."""
    import sys
    import time

    from training.benchmark import render, run_benchmark
    from training.benchmark_export import put_section, section_of

    started = time.perf_counter()
    columns = {}
    for spec in model:
        name, sep, paths = spec.partition("=")
        if not sep or not paths:
            _fail(f"--model takes NAME=DIR[,DIR...], got {spec!r}")
        try:
            columns[name] = [
                (Path(p), run_benchmark(Path(p), data_dir, fresh)) for p in paths.split(",")
            ]
        except (FileNotFoundError, ValueError) as err:
            _fail(str(err))
    command = "conflict-tagger " + " ".join(sys.argv[1:])
    text = notes.read_text(encoding="utf-8") if notes else ""
    report = render(columns, command, time.perf_counter() - started, text)
    # The export section (benchmark-export) is another command's: keep it.
    kept = section_of(out.read_text(encoding="utf-8")) if out.is_file() else None
    if kept:
        report = put_section(report, kept)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report, "utf-8")
    typer.echo(f"wrote {out}")


@app.command("benchmark-export")
def benchmark_export(
    artifact: Annotated[Path, typer.Argument(help="An exported artifact folder.")],
    model: Annotated[
        Path | None,
        typer.Option(help="The trained model folder it came from (default: the manifest's)."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Markdown report to update.")] = Path(
        "benchmarks/accuracy.md"
    ),
    data_dir: DataDir = None,
) -> None:
    """Dev F1 through torch, the fp32 graph and the int8 graph, beside the parity figures."""
    import json
    import sys

    from training.benchmark_export import compare, put_section
    from training.benchmark_export import render as render_export

    try:
        manifest = json.loads((artifact / "manifest.json").read_text(encoding="utf-8"))
        source = model or Path(manifest["training"]["source"])
        manifest, scores, seconds = compare(source, artifact, data_dir)
    except (FileNotFoundError, ValueError) as err:
        _fail(str(err))
    section = render_export(manifest, scores, seconds, "conflict-tagger " + " ".join(sys.argv[1:]))
    document = out.read_text(encoding="utf-8") if out.is_file() else "# Accuracy\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(put_section(document, section), "utf-8")
    typer.echo(section)


if __name__ == "__main__":  # pragma: no cover
    app()
