"""Resumable runs: `<OUT>.progress.json` while running, `<OUT>.done.json` when finished.

The progress file records how far the input is consumed and how long OUT and the errors
file were at that point. It is replaced atomically after both are fsync'd (a commit), and
a rerun truncates them to the committed lengths and skips the committed records: a killed
run (even SIGKILL) loses at most one commit's work and never duplicates a record. A rerun
must have the same identity (settings and input) as the recorded run, so that its output
continues the same one; only `workers` may change, as it does not change the output. Each
commit also records a hash of the input bytes read so far (input_hash.py), which a resumed
run checks first: an edit anywhere in what was labeled refuses the resume.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serving.artifact import Artifact
from serving.labeling.files import read_json, write_json
from serving.labeling.input_hash import PrefixHash
from serving.labeling.job import Format, LabelingError, LabelJob, Summary
from serving.labeling.readers import Cursor
from serving.tagger import RuntimeSettings

CHECKPOINT_VERSION = 2  # 2: input_hash, and CSV cursors with lines and bytes
FINGERPRINT_BYTES = 1 << 20


@dataclass
class State:
    """What is committed to OUT and the errors file."""

    identity: dict[str, Any]
    cursor: Cursor = field(default_factory=Cursor)
    out_state: int = 0  # JSONL: bytes of OUT; Parquet: part files
    errors_bytes: int = 0
    records_out: int = 0
    failed: int = 0
    seconds: float = 0.0
    input_hash: tuple[int, str] | None = None  # (bytes, sha256) of the input read so far

    def to_json(self) -> dict[str, Any]:
        return {
            "version": CHECKPOINT_VERSION,
            "identity": self.identity,
            "cursor": list(self.cursor),
            "out_state": self.out_state,
            "errors_bytes": self.errors_bytes,
            "records_out": self.records_out,
            "failed": self.failed,
            "seconds": self.seconds,
            "input_hash": list(self.input_hash) if self.input_hash else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        hashed = data["input_hash"]
        return cls(
            identity=data["identity"],
            cursor=Cursor(*data["cursor"]),
            out_state=int(data["out_state"]),
            errors_bytes=int(data["errors_bytes"]),
            records_out=int(data["records_out"]),
            failed=int(data["failed"]),
            seconds=float(data["seconds"]),
            input_hash=(int(hashed[0]), str(hashed[1])) if hashed else None,
        )


def _beside(out: Path, suffix: str) -> Path:
    return out.with_name(out.name + suffix)


def progress_path(out: Path) -> Path:
    return _beside(out, ".progress.json")


def done_path(out: Path) -> Path:
    return _beside(out, ".done.json")


def parts_path(out: Path) -> Path:
    return _beside(out, ".parts")


def errors_path(job: LabelJob) -> Path:
    return job.errors or _beside(job.output, ".errors.jsonl")


def fingerprint(path: Path) -> str:
    """Size and sha256 of the first and last MiB: cheap on huge files, and catches the
    usual ways an input changes (appended, rewritten, replaced). An edit in between is
    caught on resume by the checkpoint's input_hash (a finished job is not read again)."""
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with path.open("rb") as f:
        h.update(f.read(FINGERPRINT_BYTES))
        if size > FINGERPRINT_BYTES:
            f.seek(max(FINGERPRINT_BYTES, size - FINGERPRINT_BYTES))
            h.update(f.read(FINGERPRINT_BYTES))
    return f"{size}:{h.hexdigest()}"


def identity(
    job: LabelJob, fmt: Format, errors: Path, artifact: Artifact, settings: RuntimeSettings
) -> dict[str, Any]:
    """What decides the output; a rerun must match it to resume or be a no-op."""
    return {
        "input": str(job.input.resolve()),
        "input_fingerprint": fingerprint(job.input),
        "format": fmt,
        "errors": str(errors.resolve()),
        "text_field": job.text_field,
        "id_field": job.id_field,
        "drop_text": job.drop_text,
        "max_chars": job.max_chars,
        "batch_docs": job.batch_docs,  # int8 activation scales depend on the batch
        "batch_chars": job.batch_chars,
        "model": f"{artifact.manifest['name']} {artifact.version}",
        "precision": settings.precision,
        "batch_tokens": settings.batch_tokens,
    }


def _mismatch(old: dict[str, Any], new: dict[str, Any]) -> str:
    parts = []
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            if key == "input_fingerprint":
                parts.append("the input file changed")
            else:
                parts.append(f"{key} was {old.get(key)!r}, now {new.get(key)!r}")
    return "; ".join(parts)


def finished(job: LabelJob, errors: Path, ident: dict[str, Any], model: str) -> Summary | None:
    """The summary of an earlier run that completed this job, if one did."""
    done = read_json(done_path(job.output))
    if done is None:
        return None
    if done.get("identity") != ident:
        raise LabelingError(
            f"{job.output} was completed by a run with other settings "
            f"({_mismatch(done.get('identity', {}), ident)}): "
            f"delete {job.output}, {done_path(job.output).name} and {errors.name} to label "
            "again, or choose another output"
        )
    _remove_leftovers(job.output)  # from a run killed between done.json and its cleanup
    return Summary(
        job.output,
        errors,
        int(done["records_in"]),
        int(done["records_out"]),
        int(done["failed"]),
        float(done["seconds"]),
        str(done["model"]),
        already_done=True,
    )


def start(job: LabelJob, fmt: Format, errors: Path, ident: dict[str, Any]) -> State:
    """The committed state of an unfinished run to resume, or a fresh one."""
    progress = progress_path(job.output)
    saved = read_json(progress)
    if saved is not None:
        if saved.get("version") != CHECKPOINT_VERSION:
            raise LabelingError(
                f"{job.output} holds an unfinished run of another version of the labeler "
                f"(checkpoint version {saved.get('version')}, this one reads "
                f"{CHECKPOINT_VERSION}): delete {job.output}, {progress.name} and "
                f"{errors.name} to start over"
            )
        if saved.get("identity") != ident:
            why = _mismatch(saved.get("identity", {}), ident)
            raise LabelingError(
                f"{job.output} holds an unfinished run with other settings ({why}): rerun "
                f"with the same input and options to resume it, or delete {job.output}, "
                f"{progress.name} and {errors.name} to start over"
            )
        return State.from_json(saved)
    for path in (job.output, errors):
        if path.exists():
            raise LabelingError(
                f"{path} already exists and is not from an unfinished labeling run: "
                "delete it or choose another output"
            )
    if fmt == "parquet":
        shutil.rmtree(parts_path(job.output), ignore_errors=True)
    job.output.parent.mkdir(parents=True, exist_ok=True)
    state = State(ident)
    save(job.output, state)  # before any output, so a rerun can resume
    return state


def check_input(job: LabelJob, errors: Path, state: State, prefix: PrefixHash) -> None:
    """Refuse to resume if the input bytes the committed records came from changed."""
    if state.input_hash is None:
        return
    size, digest = state.input_hash
    if prefix.advance(size) != (size, digest):
        raise LabelingError(
            f"{job.input} changed since the unfinished run in {job.output} read it (its first "
            f"{size} bytes, which that run labeled, differ now): rerun with the file as it was "
            f"to resume, or delete {job.output}, {progress_path(job.output).name} and "
            f"{errors.name} to start over"
        )


def save(out: Path, state: State) -> None:
    write_json(progress_path(out), state.to_json())


def finish(job: LabelJob, fmt: Format, summary: Summary, ident: dict[str, Any]) -> None:
    """Mark the job done (a rerun becomes a no-op), then drop the progress file and parts."""
    done = {
        "input": str(job.input),
        "output": str(job.output),
        "errors": str(summary.errors),
        "format": fmt,
        "records_in": summary.records_in,
        "records_out": summary.records_out,
        "failed": summary.failed,
        "seconds": round(summary.seconds, 3),
        "docs_per_second": round(summary.docs_per_second, 2),
        "model": summary.model,
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "identity": ident,
    }
    write_json(done_path(job.output), done)
    _remove_leftovers(job.output)


def _remove_leftovers(out: Path) -> None:
    progress_path(out).unlink(missing_ok=True)
    shutil.rmtree(parts_path(out), ignore_errors=True)
