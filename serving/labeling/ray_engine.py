"""`conflict-tagger label IN OUT --engine ray`: the offline labeler with Ray Data.

How it works, and why:

- Reading: one Ray Data read task streams IN (ray_read.py) through the local reader's
  record logic and cuts the records into the local labeler's units (`batch_docs` records
  or `batch_chars` characters). A unit is one row of the dataset, so Ray never splits one.
- Tagging: `map_batches(TagUnits, compute=ActorPoolStrategy(size=actors))`. Each actor
  holds one `Tagger` and tags a unit's texts with `pool.tag_texts`, as a local worker
  does. Same units, same model calls: int8 scores move with a batch's other documents
  (one quantization scale per batch), so equal units are what makes the outputs equal.
- Writing: this process (the driver) takes the tagged units in input order
  (`preserve_order`) and hands them to the local labeler's own run loop (`run._Run`):
  the same sinks, errors file, checkpoints, `OUT.done.json` and summary. So OUT, its
  errors file and the record numbers (JSONL line, CSV/Parquet row) are the local
  engine's, byte for byte, and since the checkpoint identity is the local one too, an
  interrupted run resumes under either engine (the read task skips what is committed).
- At scale: one input file is read by one task and written by this one process. Both
  cost microseconds per record against the model's milliseconds, so this holds to some
  thousands of documents/s; past that, split the input and run several jobs.
- The artifact: this process verifies it, reads its files once and `ray.put`s them; each
  actor writes them to a temporary folder, verifies the checksums again (`verify`),
  loads the Tagger and deletes the folder. No node downloads or needs the model folder.
- Cores: an actor reserves `cpus_per_actor` Ray CPUs on one node and runs that many ONNX
  Runtime threads; by default as many actors as fit, so actors x threads never exceed
  the CPUs Ray has. The read task reserves none: it is light next to tagging, and with
  every CPU held by an actor a read that waited for one would never start.
- Ray is started here (`ray.init(num_cpus=cores)`, no dashboard) and shut down at the
  end, unless `address` names a cluster to join (`auto`, `ray://host:10001`), or Ray is
  already initialized in this process (then it is used as it is).

Limits: IN is one file. A local IN is read on this machine's node; with a remote cluster
give a URI the cluster can read (s3://..., gs://...). OUT and the errors file are local
to this process. Both graphs of the artifact travel to every actor, since `verify`
checks every file the manifest lists.
"""

from __future__ import annotations

import inspect
import logging
import os
import pickle
import tempfile
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from serving.artifact import MANIFEST, Artifact, verify
from serving.labeling import arrow, checkpoint
from serving.labeling.job import Format, LabelingError, LabelJob, Summary
from serving.labeling.lock import output_lock
from serving.labeling.pool import Outcome, available_cores, tag_texts
from serving.labeling.readers import Reader
from serving.labeling.run import _Run, _Unit, plan_job, resume
from serving.tagger import RuntimeSettings, Tagger

INSTALL = "pip install 'conflict-tagger[ray]'"
# DataContext settings for a run: every unit its own block (a block over the 1-byte
# target is emitted at once), so actors take units one at a time; the run shows its own
# progress bar.
DATA_SETTINGS = {
    "target_max_block_size": 1,
    "enable_progress_bars": False,
    "print_on_execution_start": False,
}


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # a cluster to join (auto, ray://...); None: start Ray here
    actors: int | None = None  # None: as many as fit
    cpus_per_actor: int = 1  # Ray CPUs each actor reserves = its ONNX Runtime threads
    uri: str | None = None  # IN as a URI for Ray to read (s3://...); job.input only names it


def label_with_ray(
    job: LabelJob, options: RayOptions = RayOptions(), log: Callable[[str], None] = lambda _: None
) -> Summary:
    """Tag every record of the input into `job.output` with Ray; the output, errors file
    and summary are those of `label_file(job)`."""
    with output_lock(job.output):
        return _label_with_ray(job, options, log)


def _label_with_ray(job: LabelJob, options: RayOptions, log: Callable[[str], None]) -> Summary:
    ray = import_ray()
    if options.cpus_per_actor < 1 or (options.actors is not None and options.actors < 1):
        raise LabelingError("actors and cpus_per_actor must be at least 1")
    local = options.uri is None
    plan = plan_job(
        job, options.cpus_per_actor,
        lambda: Reader(job.input, job.text_field) if local else _uri(str(options.uri), job),
        local_input=local,
    )  # fmt: skip
    identity = _identity(job, options.uri, plan.fmt, plan.errors, plan.artifact, plan.settings)
    state = resume(job, plan, identity, log)
    if isinstance(state, Summary):
        return state
    run = _RayRun(job, plan.fmt, plan.errors, plan.reader, state, plan.model)
    return run.go_ray(ray, options, plan.artifact, plan.settings, log)


def import_ray() -> Any:
    try:
        import ray
        import ray.data
        import ray.exceptions
    except ImportError:
        raise LabelingError(f"the Ray engine needs Ray Data: {INSTALL}") from None
    return ray


def plan_actors(requested: int | None, cpus_per_actor: int, node_cpus: list[float]) -> int:
    """Tagging actors: each takes cpus_per_actor CPUs of one node; as many as fit by
    default, never more."""
    fit = sum(int(cpus // cpus_per_actor) for cpus in node_cpus)
    if fit < 1:
        raise LabelingError(
            f"no Ray node has {cpus_per_actor} CPUs (nodes: {', '.join(map(str, node_cpus))}"
            "): lower --cpus-per-actor"
        )
    return min(requested or fit, fit)


def _uri(uri: str, job: LabelJob) -> Reader:
    from serving.labeling.ray_read import UriInput

    return UriInput(uri, job.text_field)


def _identity(
    job: LabelJob,
    uri: str | None,
    fmt: Format,
    errors: Path,
    artifact: Artifact,
    settings: RuntimeSettings,
) -> dict[str, Any]:
    """The local engine's checkpoint identity; a URI's own fingerprint (size, mtime)."""
    if uri is None:
        return checkpoint.identity(job, fmt, errors, artifact, settings)
    from serving.labeling.ray_read import uri_fingerprint

    local = replace(job, input=Path(os.devnull))  # identity() fingerprints a local file
    ident = checkpoint.identity(local, fmt, errors, artifact, settings)
    return {**ident, "input": uri, "input_fingerprint": uri_fingerprint(uri)}


class _RayRun(_Run):
    """The local run loop, fed with units that Ray read and tagged."""

    def go_ray(
        self,
        ray: Any,
        options: RayOptions,
        artifact: Artifact,
        settings: RuntimeSettings,
        log: Callable[[str], None],
    ) -> Summary:
        bar = self._progress_bar()
        try:
            with _session(ray, options.address):
                for unit, outcomes in self._tagged(ray, options, artifact, settings, log):
                    self._write_unit(unit, _done(outcomes), bar)
                self._commit()
        except ray.exceptions.RayError as err:
            raise LabelingError(
                f"the Ray run failed: {_cause(err)}; everything up to input record "
                f"{self.state.cursor.records} is saved: rerun the same command to resume"
            ) from None
        finally:
            bar.close()
            self.files.close()
        return self._finish()

    def _tagged(
        self,
        ray: Any,
        options: RayOptions,
        artifact: Artifact,
        settings: RuntimeSettings,
        log: Callable[[str], None],
    ) -> Iterator[tuple[_Unit, list[Outcome]]]:
        from serving.labeling.ray_read import UnitSource

        nodes = [float(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")]
        actors = plan_actors(options.actors, options.cpus_per_actor, nodes)
        if options.actors and actors < options.actors:
            log(f"note: {options.actors} actors asked for, {actors} fit on the Ray cluster")
        threads = options.cpus_per_actor
        log(f"tagging in {actors} Ray actor(s) with {threads} ONNX Runtime thread(s) each")
        files = ray.put(artifact_files(artifact))
        path = options.uri or str(self.job.input.resolve())
        schema = self.reader.schema
        columns = list(schema.names) if schema is not None and self.reader.kind == "csv" else None
        local = options.uri is None
        source = UnitSource(path, self.reader.kind, self.job, self.state.cursor, columns, local)
        tagged = _read(ray, source).map_batches(
            TagUnits,
            fn_constructor_args=([files], settings),  # in a list: the actor gets the ref
            batch_size=None,
            batch_format="pyarrow",
            # One unit at a time per actor, as a local worker pulls them: none waits behind
            # a long unit on a busy actor while another actor is idle.
            compute=ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=1),
            num_cpus=options.cpus_per_actor,
        )
        for batch in tagged.iter_batches(batch_size=None, batch_format="pyarrow"):
            units, outcomes = batch.column("unit").to_pylist(), batch.column("outcomes")
            for unit, tags in zip(units, outcomes.to_pylist(), strict=True):
                yield pickle.loads(unit), pickle.loads(tags)


class TagUnits:
    """The `map_batches` callable: one Tagger per actor, loaded once from shipped files."""

    def __init__(self, files: list[Any], settings: RuntimeSettings) -> None:
        os.environ.setdefault("RAYON_NUM_THREADS", str(settings.threads or 1))  # tokenizers
        with tempfile.TemporaryDirectory(prefix="conflict-tagger-model-") as folder:
            artifact = unpack_artifact(import_ray().get(files[0]), Path(folder))
            self.tagger = Tagger(artifact, settings)  # reads every file it needs now

    def __call__(self, batch: Any) -> Any:
        outcomes = []
        for unit in batch.column("unit").to_pylist():
            texts = pickle.loads(unit).texts
            tags = tag_texts(self.tagger, texts) if texts else []
            outcomes.append(pickle.dumps(tags, protocol=5))
        pa = arrow.pyarrow()
        return batch.append_column("outcomes", pa.array(outcomes, pa.large_binary()))


def artifact_files(artifact: Artifact) -> dict[str, bytes]:
    """Every file of an artifact folder, to ship to the actors as one object."""
    names = [MANIFEST, *artifact.manifest["files"]]
    return {name: (artifact.path / name).read_bytes() for name in names}


def unpack_artifact(files: dict[str, bytes], folder: Path) -> Artifact:
    """Shipped files written into `folder` and verified there (checksums, labels)."""
    for name, data in files.items():
        (folder / Path(name).name).write_bytes(data)
    return verify(folder)


@contextmanager
def _session(ray: Any, address: str | None) -> Iterator[None]:
    """Ray for one run, with the Data settings it needs (restored afterwards)."""
    started = not ray.is_initialized()
    if started:
        quiet = {"logging_level": logging.WARNING, "log_to_driver": False}
        if address:
            ray.init(address=address, **quiet)
        else:
            cores = available_cores()
            ray.init(address="local", num_cpus=cores, include_dashboard=False, **quiet)
    ctx = ray.data.DataContext.get_current()
    saved = {name: getattr(ctx, name) for name in DATA_SETTINGS if hasattr(ctx, name)}
    order = ctx.execution_options.preserve_order
    logger = logging.getLogger("ray.data")  # its progress notes would mix with the run's
    level = logger.level
    try:
        for name in saved:
            setattr(ctx, name, DATA_SETTINGS[name])
        ctx.execution_options.preserve_order = True  # units come back in input order
        logger.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            # A file of fewer units than actors is fine (Ray warns from its own thread).
            warnings.filterwarnings("ignore", "The minimum number of concurrent actors")
            yield
    finally:
        for name, value in saved.items():
            setattr(ctx, name, value)
        ctx.execution_options.preserve_order = order
        logger.setLevel(level)
        if started:
            ray.shutdown()


def _read(ray: Any, source: Any) -> Any:
    """The read task reserves no CPU (see the module docstring)."""
    read = ray.data.read_datasource
    if "num_cpus" in inspect.signature(read).parameters:
        return read(source, num_cpus=0)
    return read(source, ray_remote_args={"num_cpus": 0})  # Ray before named remote args


def _done(outcomes: list[Outcome]) -> Future[list[Outcome]]:
    future: Future[list[Outcome]] = Future()
    future.set_result(outcomes)
    return future


def _cause(err: BaseException) -> str:
    """The last line of a Ray error: the exception raised in the task or actor."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__
