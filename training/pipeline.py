"""Steps with declared inputs and outputs, skipped when nothing they depend on changed.

The idea of spaCy projects' `deps`/`outputs`: each step's inputs are fingerprinted (files by
sha256, folders by their files, settings by value); a step runs again only when a
fingerprint differs from its last successful run or an output is missing. The record of each
run, with what the step reported, is kept in `<state>/<step>.json`, so a chain interrupted
anywhere continues where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serving.artifact import sha256_file


def fingerprint(item: Path | str | int | float | bool | Mapping[str, Any] | None) -> str:
    """sha256 of a file, of a folder's files (names and contents), or of a JSON value."""
    if isinstance(item, Path):
        if item.is_file():
            return sha256_file(item)
        if item.is_dir():
            h = hashlib.sha256()
            for f in sorted(p for p in item.rglob("*") if p.is_file()):
                h.update(f"{f.relative_to(item)}\0{sha256_file(f)}\n".encode())
            return h.hexdigest()
        return "missing"
    return hashlib.sha256(json.dumps(item, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Step:
    name: str
    inputs: Mapping[str, Any]  # name -> Path or JSON value, fingerprinted
    outputs: list[Path]
    run: Callable[[], dict[str, Any]]  # does the work; returns what to record and report


@dataclass
class StepRecord:
    name: str
    skipped: bool
    summary: dict[str, Any]
    seconds: float = 0.0
    inputs: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"step": self.name, "skipped": self.skipped, "seconds": round(self.seconds, 1),
                "summary": self.summary}  # fmt: skip


def run_step(step: Step, state_dir: Path, log: Callable[[str], None] = print) -> StepRecord:
    """Run `step` unless its inputs match its last run and its outputs exist."""
    state_dir.mkdir(parents=True, exist_ok=True)
    stamp = state_dir / f"{step.name}.json"
    prints = {k: fingerprint(v) for k, v in step.inputs.items()}
    if stamp.is_file() and all(p.exists() for p in step.outputs):
        last = json.loads(stamp.read_text(encoding="utf-8"))
        if last.get("inputs") == prints:
            log(f"{step.name}: skipped (inputs unchanged)")
            return StepRecord(step.name, True, last.get("summary", {}), 0.0, prints)
    stamp.unlink(missing_ok=True)  # a failed run must not look like a finished one
    log(f"{step.name}: running")
    started = time.perf_counter()
    summary = step.run()
    seconds = time.perf_counter() - started
    blob = {"inputs": prints, "summary": summary, "seconds": round(seconds, 1)}
    tmp = stamp.with_suffix(".tmp")
    tmp.write_text(json.dumps(blob, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(stamp)
    return StepRecord(step.name, False, summary, seconds, prints)
