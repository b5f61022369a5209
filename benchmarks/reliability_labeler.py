"""Parts 4 and 5 of benchmarks/reliability.py: `conflict-tagger label` killed with SIGKILL
at random moments, and fed the poison of tests/test_labeling_poison.py.

Kills: for JSONL -> JSONL and Parquet -> Parquet, each with `--workers 1` and `--workers 2`,
the command is started, killed with SIGKILL after a random 0.2-8 s (start-up included, so
some kills land before the first commit), and started again, which resumes. A run that
finishes before its kill is checked and the next attempt starts a fresh output. After the
last kill, the unfinished output is run to its end. Every finished output is then checked:
each input record (a few thousand short ones, with poison among them: lines that are not
JSON, empty, blank and missing texts) must be exactly once in the output or the errors
file, by id (an error for a line that is not JSON has no id: its line number names it).

Poison: one run per file of tests/test_labeling_poison.py's cases, built as it builds them
(inline in its tests): JSON nested 100,000 levels deep, invalid UTF-8 in a CSV row, a CSV
quote never closed, a .gz cut short. Each must finish (exit 0, OUT.done.json) with the
poison, and only the poison, in the errors file.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serving.labeling import arrow

CLI = Path(sys.executable).with_name("conflict-tagger")
KILL_AFTER = (0.2, 8.0)  # seconds after the start, uniformly
RUN_LIMIT = 600.0  # an uninterrupted run to the end
POISON_EVERY = 97  # one input record in this many is poison


def label_command(src: Path, out: Path, model: str, workers: int) -> list[str]:
    """The command users run (the installed entry point, else the same Typer app)."""
    exe = [str(CLI)] if CLI.exists() else [sys.executable, "-m", "training.cli"]
    return [*exe, "label", str(src), str(out), "--model", model, "--workers", str(workers),
            "--batch-docs", "64", "--no-progress"]  # fmt: skip


# --- inputs ------------------------------------------------------------------------------


def sentence(i: int) -> str:
    """tests/test_labeling.py's `_text` (its module is not importable here: mypy checks
    benchmarks strictly, and would then check that test module too)."""
    return f"Rebels fired {i} rockets at Camp Alpha near Kayes on {i % 28 + 1} May."


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").split("\n")  # not splitlines: U+2028 is text
    return [json.loads(line) for line in lines if line]


@dataclass(frozen=True)
class Input:
    path: Path
    ids: list[str]  # every record's id, in input order
    by_position: dict[int, str]  # line (JSONL) or row (Parquet) -> id, for errors with none


def poison_record(i: int) -> dict[str, Any] | str:
    """Record `i`'s poison: a line that is not JSON (a str), or a record with no text."""
    kind = (i // POISON_EVERY) % 4
    if kind == 0:
        return f'{{"id": "r{i}", "text": "cut off'
    return {"id": f"r{i}", "text": ("", "   \n", None)[kind - 1]}


def records(n: int) -> list[dict[str, Any] | str]:
    return [
        poison_record(i)
        if i % POISON_EVERY == POISON_EVERY - 1
        else {"id": f"r{i}", "text": sentence(i)}
        for i in range(n)
    ]


def write_jsonl(folder: Path, n: int) -> Input:
    rows = records(n)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path = folder / "in.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ids = [f"r{i}" for i in range(n)]
    return Input(path, ids, {i + 1: rid for i, rid in enumerate(ids)})


def write_parquet(folder: Path, n: int) -> Input:
    pa, pq = arrow.pyarrow(), arrow.parquet()
    ids = [f"r{i}" for i in range(n)]
    texts = [r["text"] if isinstance(r, dict) else "" for r in records(n)]
    path = folder / "in.parquet"
    pq.write_table(pa.table({"id": ids, "text": texts}), path, row_group_size=500)
    return Input(path, ids, {i + 1: rid for i, rid in enumerate(ids)})


# --- checking an output ------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    records: int
    duplicates: int  # extra copies of records seen more than once
    missing: int
    strangers: int  # ids in the output that are in no input record


def output_ids(out: Path) -> list[str]:
    if out.suffix == ".parquet":
        return [
            str(v) for v in arrow.parquet().read_table(out, columns=["id"]).column("id").to_pylist()
        ]
    return [str(r["id"]) for r in read_jsonl(out)]


def tally(source: Input, out: Path) -> Tally:
    """Each input record must be exactly once in `out` or its errors file."""
    seen = Counter(output_ids(out))
    for error in read_jsonl(out.with_name(out.name + ".errors.jsonl")):
        rid = error.get("id")
        seen[
            str(rid)
            if rid is not None
            else source.by_position.get(error.get("line") or error.get("row") or 0, "?")
        ] += 1
    expected = set(source.ids)
    return Tally(
        records=len(source.ids),
        duplicates=sum(c - 1 for c in seen.values() if c > 1),
        missing=len(expected - set(seen)),
        strangers=sum(c for rid, c in seen.items() if rid not in expected),
    )


# --- kill -9 -----------------------------------------------------------------------------


@dataclass
class KillRun:
    config: str
    kills: int = 0
    reruns: int = 0  # starts after a kill, the one that finished included
    outputs: list[Tally] = field(default_factory=list)
    lingering: int = 0  # kills after which a worker outlived its parent by 10 s
    failures: list[str] = field(default_factory=list)  # runs that exited non-zero unkilled

    def total(self, key: str) -> int:
        return sum(getattr(t, key) for t in self.outputs)


def session_alive(session: int) -> list[int]:
    """Live processes of a session (the labeler and its workers), from /proc."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[3]) == session:
            alive.append(int(stat.parent.name))
    return alive


def kill_and_reap(process: subprocess.Popen[bytes]) -> bool:
    """SIGKILL the labeler alone, as the OOM killer would; wait up to 10 s for its workers to
    notice and exit, then kill them. True if they had to be killed."""
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while session_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    stray = session_alive(process.pid)
    for pid in stray:
        os.kill(pid, signal.SIGKILL)
    return bool(stray)


def start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def kill_runs(
    source: Input, model: str, workers: int, kills: int, rng: random.Random, folder: Path
) -> KillRun:
    run = KillRun(f"{source.path.suffix[1:]}, --workers {workers}")
    suffix = source.path.suffix
    rounds = 0
    out = folder / f"out-{rounds}{suffix}"
    log = folder / "label.log"
    resumed = False
    while True:
        last = run.kills >= kills
        process = start(label_command(source.path, out, model, workers), log)
        run.reruns += resumed
        try:
            process.wait(RUN_LIMIT if last else rng.uniform(*KILL_AFTER))
        except subprocess.TimeoutExpired:
            if last:
                kill_and_reap(process)
                run.failures.append(f"{out.name}: still running after {RUN_LIMIT:.0f} s")
                return run
            run.lingering += kill_and_reap(process)
            run.kills += 1
            resumed = True
            continue
        if process.returncode != 0:
            run.failures.append(f"{out.name}: exit {process.returncode} (see the log's tail)")
            return run
        run.outputs.append(tally(source, out))
        if last:
            return run
        rounds += 1
        out = folder / f"out-{rounds}{suffix}"
        resumed = False


# --- poison ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoisonRun:
    case: str
    exit_code: int
    finished: bool  # OUT.done.json written
    records_in: int
    records_out: int
    failed: int
    expected_failed: int
    reasons: list[str]
    wanted: str  # in every reason

    @property
    def passed(self) -> bool:
        return (
            self.exit_code == 0 and self.finished and self.failed == self.expected_failed
            and self.records_out + self.failed == self.records_in
            and all(self.wanted in r for r in self.reasons)
        )  # fmt: skip


def poison_files(folder: Path) -> list[tuple[str, Path, int, str]]:
    """(case, file, poisoned records, a phrase each error must hold): the inputs of
    tests/test_labeling_poison.py."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"id": i, "text": sentence(i)}) for i in range(12)]
    lines[3] = '{"id": 3, "text": "x", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}"
    lines[7] = '{"id": 7, "text": "x", "meta": ' + '{"a": ' * 300 + "1" + "}" * 300 + "}"
    nested = folder / "nested.jsonl"
    nested.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = [f"{i},{sentence(i)}\n".encode() for i in range(10)]
    rows[4] = b"4,Rebels fired \xff\xfe rockets at Kayes.\n"
    utf8 = folder / "invalid-utf8.csv"
    utf8.write_bytes(b"id,text\n" + b"".join(rows))
    quoted = [f"{i},{sentence(i)},{i}\n" for i in range(10)]
    quoted[3] = '3,"Troops left.,3\n'
    quote = folder / "unterminated-quote.csv"
    quote.write_text("id,text,n\n" + "".join(quoted), encoding="utf-8")
    plain = "".join(json.dumps({"id": i, "text": sentence(i) * 3}) + "\n" for i in range(60))
    packed = gzip.compress(plain.encode())
    cut = folder / "truncated.jsonl.gz"
    cut.write_bytes(packed[: len(packed) * 2 // 3])
    return [
        ("JSON nested 100,000 and 300 levels deep", nested, 2, "nested more than 128 levels deep"),
        ("invalid UTF-8 in a CSV row", utf8, 1, "invalid UTF-8"),
        ("a CSV quote never closed", quote, 1, "is never closed"),
        ("a .gz cut off two thirds in", cut, 1, "cut off or damaged"),
    ]


def poison_run(case: str, src: Path, poisoned: int, wanted: str, model: str) -> PoisonRun:
    out = src.with_name(src.name.split(".")[0] + "-out.jsonl")
    done = subprocess.run(label_command(src, out, model, 1), capture_output=True, text=True,
                          timeout=RUN_LIMIT, check=False)  # fmt: skip
    summary = out.with_name(out.name + ".done.json")
    errors = out.with_name(out.name + ".errors.jsonl")
    reasons = [str(e["reason"]) for e in read_jsonl(errors)] if errors.is_file() else []
    counts = json.loads(summary.read_text()) if summary.is_file() else {}
    return PoisonRun(
        case, done.returncode, summary.is_file(), int(counts.get("records_in", -1)),
        int(counts.get("records_out", -1)), len(reasons), poisoned, reasons, wanted,
    )  # fmt: skip


# --- both, and their report ----------------------------------------------------------------


@dataclass
class Labeler:
    kills: list[KillRun]
    poison: list[PoisonRun]
    seconds: float


def run(
    model: str, kills: int, n: int, seed: int, folder: Path, log: Callable[[str], None]
) -> Labeler:
    started = time.monotonic()
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    inputs = [write_jsonl(folder, n), write_parquet(folder, n)]
    configs = [(source, workers) for source in inputs for workers in (1, 2)]
    shares = [kills // len(configs) + (i < kills % len(configs)) for i in range(len(configs))]
    runs = []
    for (source, workers), share in zip(configs, shares, strict=True):
        where = folder / f"{source.path.suffix[1:]}-w{workers}"
        where.mkdir()
        log(f"labeler: {share} kills, {source.path.name}, --workers {workers}")
        runs.append(kill_runs(source, model, workers, share, rng, where))
    log("labeler: poison files")
    poison = [poison_run(*case, model) for case in poison_files(folder / "poison")]
    return Labeler(runs, poison, time.monotonic() - started)


def render(lab: Labeler) -> list[str]:
    lines = [
        "## 4. Labeler kill -9",
        "",
        f"`conflict-tagger label IN OUT --model M --workers W --batch-docs 64` killed with "
        f"SIGKILL {KILL_AFTER[0]}-{KILL_AFTER[1]:.0f} s after each start (uniform, seeded), "
        "then started again to resume; a run that ended before its kill starts a fresh output. "
        f"One record in {POISON_EVERY} is poison (not JSON, empty, blank or null text).",
        "",
        "| input, workers | kills | reruns | outputs checked | records each | duplicates "
        "| missing | unknown ids | workers left after a kill |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in lab.kills:
        each = r.outputs[0].records if r.outputs else 0
        lines.append(
            f"| {r.config} | {r.kills} | {r.reruns} | {len(r.outputs)} | {each:,} "
            f"| {r.total('duplicates')} | {r.total('missing')} | {r.total('strangers')} "
            f"| {r.lingering} |"
        )
    lines += [
        "",
        "## 5. Poison",
        "",
        "| case | records in | out | to errors | finished | first reason |",
        "|---|---:|---:|---:|---|---|",
    ]
    for p in lab.poison:
        reason = (p.reasons[0][:90] + "...") if p.reasons else "-"
        lines.append(
            f"| {p.case} | {p.records_in} | {p.records_out} | {p.failed} "
            f"| {'yes' if p.finished and p.exit_code == 0 else f'no (exit {p.exit_code})'} "
            f"| {reason} |"
        )
    lines += ["", f"Labeler parts took {lab.seconds:.0f} s."]
    return lines


def main(argv: Sequence[str] | None = None) -> None:  # pragma: no cover - a manual aid
    """Only the labeler parts: `python -m benchmarks.reliability_labeler [MODEL] [KILLS]`."""
    import tempfile

    args = list(sys.argv[1:] if argv is None else argv)
    model = args[0] if args else "shipped"
    kills = int(args[1]) if len(args) > 1 else 4
    with tempfile.TemporaryDirectory() as tmp:
        lab = run(model, kills, 300, 0, Path(tmp), lambda m: print(m, file=sys.stderr))
    print("\n".join(render(lab)))


if __name__ == "__main__":  # pragma: no cover
    main()
