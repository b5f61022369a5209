"""The report of benchmarks/reliability.py: a PASS/FAIL line per target, then the figures of
each part (the HTTP parts here, the labeler's from benchmarks/reliability_labeler.py)."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchmarks import reliability_labeler as labeler

if TYPE_CHECKING:
    from benchmarks.reliability import Http, Sent, Settings
    from serving.artifact import Artifact

LIVEZ_EVERY, LIVEZ_LIMIT = 0.25, 1.0  # seconds: how often /livez is polled, its limit
COST_LIMIT = 3.0  # time per character, against prose of the same length
RECOVERY_LIMIT = 5.0  # seconds


@dataclass(frozen=True)
class Target:
    what: str
    figure: str
    passed: bool


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def http_targets(http: Http) -> list[Target]:
    sent, load = http.sent, http.load
    fivexx = [s for s in sent if s.status is None or s.status >= 500]
    bad = [s for s in sent if s.problems]
    junk = [s for s in bad if any("junk-only" in p for p in s.problems)]
    ratios = [(s.ratio, s.case.name) for s in sent if s.ratio is not None]
    worst = max(ratios, default=(0.0, "-"))
    over = sum(r > COST_LIMIT for r, _ in ratios)
    polls = http.polls
    late = max((p.seconds for p in polls), default=0.0)
    failed = [p for p in polls if p.failure]
    load_bad = [
        a
        for a in load.answers
        if a.status not in (200, 503) or (a.status == 503 and not a.retry_after)
    ]
    recovered = load.recovery is not None and load.recovery <= RECOVERY_LIMIT
    return [
        Target("battery: at least 300 cases", f"{len(sent)} cases", len(sent) >= 300),
        Target("battery: no 5xx and no request unanswered",
               f"{len(fivexx)} ({', '.join(s.case.name for s in fivexx[:5]) or 'none'})",
               not fivexx),
        Target("battery: every 200 has valid offsets (0 <= start < end <= len, slice == text)",
               f"{len(bad) - len(junk)} answers with problems", len(bad) == len(junk)),
        Target("battery: junk-only texts give no entities, roles or events",
               f"{len(junk)} with some", not junk),
        Target(f"battery: time per character at most {COST_LIMIT:.0f}x prose of the same length",
               f"worst {worst[0]:.2f}x ({worst[1]}); {over} of {len(ratios)} over",
               worst[0] <= COST_LIMIT),
        Target(f"/livez: every poll answered 200 within {LIVEZ_LIMIT:.0f} s",
               f"max {1000 * late:.0f} ms over {len(polls)} polls, {len(failed)} failed",
               late < LIVEZ_LIMIT and not failed),
        Target("load: every request answered 200, or 503 with Retry-After",
               f"{len(load.answers)} requests, {len(load_bad)} otherwise", not load_bad),
        Target(f"load: short requests within 2x their pre-load median within "
               f"{RECOVERY_LIMIT:.0f} s of the last load answer",
               "not within 60 s" if load.recovery is None else f"{load.recovery:.2f} s",
               recovered),
    ]  # fmt: skip


def status_table(sent: Sequence[Sent]) -> list[str]:
    counts = Counter(
        str(s.status) if s.status is not None else f"no answer ({s.error})" for s in sent
    )
    groups = sorted({s.case.group for s in sent})
    by_group = {g: Counter(str(s.status) for s in sent if s.case.group == g) for g in groups}
    lines = ["| status | requests |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(counts.items())]
    lines += ["", "| group | cases | statuses |", "|---|---:|---|"]
    for g in groups:
        shown = ", ".join(f"{k}: {v}" for k, v in sorted(by_group[g].items()))
        lines.append(f"| {g} | {sum(by_group[g].values())} | {shown} |")
    return lines


def cost_table(sent: Sequence[Sent], n: int = 12) -> list[str]:
    rows = sorted((s for s in sent if s.ratio is not None), key=lambda s: -(s.ratio or 0))
    lines = ["| case | route | characters | ms | prose ms | us/char | prose us/char | ratio |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for s in rows[:n]:
        p = s.prose_seconds or 0.0
        lines.append(
            f"| `{s.case.name}` | {s.case.route} | {s.chars:,} | {1000 * s.seconds:,.0f} "
            f"| {1000 * p:,.0f} | {1e6 * s.seconds / s.chars:,.1f} | {1e6 * p / s.chars:,.1f} "
            f"| {s.ratio:.2f} |"
        )
    return lines


def labeler_targets(lab: labeler.Labeler) -> list[Target]:
    out = []
    for r in lab.kills:
        dup, miss, extra = r.total("duplicates"), r.total("missing"), r.total("strangers")
        out.append(Target(
            f"labeler kill -9 ({r.config}): every record once in output + errors",
            f"{r.kills} kills, {len(r.outputs)} outputs checked, {dup} duplicates, {miss} "
            f"missing{', ' + '; '.join(r.failures) if r.failures else ''}",
            dup == miss == extra == 0 and not r.failures and bool(r.outputs),
        ))  # fmt: skip
    for p in lab.poison:
        out.append(Target(
            f"labeler poison ({p.case}): in the errors file, run finished",
            f"{p.failed} of {p.records_in} records to errors, exit {p.exit_code}", p.passed,
        ))  # fmt: skip
    return out


def render_http(http: Http, repeats: int) -> list[str]:
    sent, load = http.sent, http.load
    accepted = [s for s in sent if s.status == 200]
    no_prose = [s.case.name for s in accepted if s.prose_seconds is None]
    problems = [f"- `{s.case.name}`: {'; '.join(s.problems[:3])}" for s in sent if s.problems]
    phases = Counter(p.phase for p in http.polls)
    statuses = Counter(
        str(a.status) if a.status else f"no answer ({a.error})" for a in load.answers
    )
    ok = sorted(a.seconds for a in load.answers if a.status == 200)
    retry = sum(a.retry_after for a in load.answers if a.status == 503)
    lines = [
        "## 1. Bad-input battery",
        "",
        f"{len(sent)} requests, one at a time (benchmarks/reliability_cases.py: hand-made "
        f"cases and {sum(s.case.group == 'fuzz' for s in sent)} seeded random Unicode texts "
        f"plus {sum(s.case.group == 'mangled' for s in sent)} damaged bodies), limits from "
        f"`/metadata`: {http.metadata['limits']}.",
        "",
        *status_table(sent),
        "",
        "Problems in 200 answers: " + ("none." if not problems else ""),
        *problems[:20],
        "",
        f"**Cost per character** of the {len(accepted)} accepted requests: each timed from "
        "this client (the fastest of up to "
        f"{repeats} sends for those under a second), against the same route "
        "with news prose of the same length(s) in place of each text. Worst:",
        "",
        *cost_table(sent),
        "",
        f"No prose baseline (prose of that shape is refused, e.g. over max_tokens): "
        f"{', '.join(no_prose) or 'none'}.",
        "",
        "## 2. Liveness",
        "",
        f"`GET /livez` every {LIVEZ_EVERY} s from a thread of this process, on its own "
        "connection, while the battery and the load ran.",
        "",
        "| phase | polls | max ms | median ms | failures | slowest poll during |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for phase in phases:
        ps = [p for p in http.polls if p.phase == phase]
        ms = [1000 * p.seconds for p in ps]
        slowest = max(ps, key=lambda p: p.seconds)
        failures = Counter(p.failure for p in ps if p.failure)
        lines.append(f"| {phase} | {len(ps)} | {max(ms):,.0f} | {statistics.median(ms):,.0f} "
                     f"| {sum(failures.values())} {dict(failures) if failures else ''} "
                     f"| `{slowest.doing or '-'}` |")  # fmt: skip
    lines += [
        "",
        "## 3. Load",
        "",
        f"{load.clients} clients, each sending {load.chars:,}-character prose ({load.tokens:,} "
        f"tokens at most) to `/tag` for {load.seconds:.0f} s; the last answer came "
        f"{load.ended - load.started - load.seconds:.1f} s after that.",
        "",
        "| status | requests |",
        "|---|---:|",
        *[f"| {k} | {v} |" for k, v in sorted(statuses.items())],
        "",
        f"- 503s with Retry-After: {retry} of {statuses.get('503', 0)}",
        f"- 200 latency: median {statistics.median(ok or [0]):.1f} s, max {max(ok or [0]):.1f} s",
        f"- server RSS (process tree, sampled every second): {mib(load.rss_before)} before, "
        f"max {mib(load.rss_max)} during the load; max over the whole run {mib(http.rss_max)}",
        f"- short requests: median {1000 * load.short_median:.0f} ms before the load; after "
        f"it, {len(load.recovery_tries)} sent until one took at most 2x that "
        f"({', '.join(f'{1000 * t:.0f}' for t in load.recovery_tries[:8])} ms; inf: not a 200)",
        "",
    ]  # fmt: skip
    return lines


def render(
    settings: Settings,
    command: str,
    artifact: Artifact,
    http: Http,
    lab: labeler.Labeler,
    machine_load: tuple[Sequence[float], Sequence[float]] = ((), ()),
) -> str:
    """The whole report; `machine_load` is the load average (1, 5, 15 min) at the start and
    the end of the run: other work on the machine meanwhile slows every request timed."""
    from benchmarks.ceiling import ISA_FLAGS, Machine

    machine = Machine.here()
    missing = [f for f in ISA_FLAGS if f not in machine.isa]
    targets = [*http_targets(http), *labeler_targets(lab)]
    model = http.metadata.get("model", {})
    lines = [
        "# Reliability",
        "",
        f"Made by `{command}` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC "
        f"({'quick run' if settings.quick else 'full run'}). Machine: {machine.cpu}, "
        f"{machine.available_cpus} of {machine.logical_cpus} CPUs, ISA: "
        f"{', '.join(machine.isa) or 'none'} (not: {', '.join(missing) or '-'}). "
        f"Model: {model.get('name')} {model.get('version')} (`--model {settings.model}`: "
        f"{artifact.path.name}, precision {http.metadata.get('precision')}), served by "
        "`bentoml serve` "
        f"with the service's defaults, ready after {http.ready_seconds:.1f} s. Load average "
        f"(1/5/15 min) {'/'.join(f'{x:.1f}' for x in machine_load[0])} at the start, "
        f"{'/'.join(f'{x:.1f}' for x in machine_load[1])} at the end (this run keeps up to "
        f"{machine.available_cpus} busy; well above that, other work shared the CPUs and "
        "the timings below are inflated).",
        "",
        "| target | figure | |",
        "|---|---|---|",
        *[f"| {t.what} | {t.figure} | {'PASS' if t.passed else '**FAIL**'} |" for t in targets],
        "",
        *render_http(http, settings.repeats),
        *labeler.render(lab),
    ]  # fmt: skip
    return "\n".join(lines) + "\n"
