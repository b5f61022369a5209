"""Weak event labels for the types the corpora barely annotate, from documented lexical rules.

No gold corpus has more than a handful of AIRSTRIKE, SHELLING_MISSILE, CHEMICAL_ATTACK,
SEXUAL_VIOLENCE, PROTEST, RIOT, TERRITORY_CHANGE, WEAPONS_SEIZURE or ARMED_CLASH examples.
`RULES` is the one table of cues for them; `weak_sentence_events` applies it to one sentence
and `convert` builds the `weak_events` collection from the corpora's real news text.

How a type is decided for a sentence (all matching is on the lower-cased sentence):

1. `veto`: if any veto cue (or a `SHARED_VETO` cue: threats, plans, calls, debates,
   conditionals, the future) matches the sentence, the type is not assigned. Hypothetical
   and planned events are the commonest false positive of keyword rules.
2. `mask`: phrases that look like a cue but are not one ("riot police", "shelling out",
   "tear gas") are blanked out.
3. `fire`: the type is assigned if a cue matches both the sentence and what is left after
   masking.

The rules favour precision over recall: a missed sentence costs nothing (the labels are not
exhaustive), a wrong one teaches the model a wrong type. They do not decide co-occurring
types (a shelled town may also be captured); the records say so with `exhaustive=False`.

`weak_events` keeps positive sentences only: with non-exhaustive coverage a sentence that
matches no rule says nothing about what it does not express, so it is no negative example.
Negatives come from the gold data and the hand-written `rare_events` collection.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from serving.schema import EventType
from training.corpus.log import ConversionLog
from training.corpus.mapping import coarse_of
from training.corpus.record import Coverage, LabelSet, Record, Source, Split
from training.corpus.splits import text_key
from training.corpus.weak_rules import RARE_TYPES, RULES, SHARED_VETO, Cue

COLLECTIONS = {
    "weak_events": "sentences of the corpora's training splits with weak rare-event labels "
    "from lexical rules (training/corpus/weak_labels.py); positives only, not exhaustive",
}
DATASET = "weak_events"
# Collections whose text is real news, and whose TRAIN records give the sentences.
SOURCE_COLLECTIONS = ("muc4", "satp", "insightcrime", "ipe", "re3d", "cameo_class")
# At most this many sentences are chosen per type (by a hash of their text key), so the
# commonest cues (exchanges of fire in SATP and MUC-4, the 2002 Gujarat riots in IPE) do
# not swamp training.
CAP_PER_TYPE = 400
# Longer "sentences" are unsplittable runs (SATP strips punctuation from some texts); a
# label on 600+ characters no longer says which part expresses the event.
MAX_SENTENCE_CHARS = 600
MIN_SENTENCE_CHARS = 15


@dataclass(frozen=True)
class _Compiled:
    fire: re.Pattern[str]  # every fire cue of a type in one alternation: one pass
    mask: tuple[re.Pattern[str], ...]
    veto: re.Pattern[str]


def _union(cues: tuple[Cue, ...]) -> re.Pattern[str]:
    for c in cues:
        if re.sub(r"\\.", "", c.pattern) != re.sub(r"\\.", "", c.pattern).lower():
            raise ValueError(f"cue {c.pattern!r} has upper case; cues match lower-cased text")
    return re.compile("|".join(f"(?:{c.pattern})" for c in cues))


_COMPILED = {
    event: _Compiled(
        fire=_union(r.fire),
        mask=tuple(_union((c,)) for c in r.mask),
        veto=_union(r.veto + SHARED_VETO),
    )
    for event, r in RULES.items()
}


def _blank(match: re.Match[str]) -> str:
    return " " * len(match.group(0))


def weak_sentence_events(sentence: str) -> list[EventType]:
    """The rare event types the rules find in one sentence, in schema order.

    A type is found when a fire cue matches the sentence before and after masking and no
    veto cue matches (the first test only skips the masking for most sentences).
    """
    lowered = sentence.lower()
    found = []
    for event in RARE_TYPES:
        rules = _COMPILED[event]
        if not rules.fire.search(lowered) or rules.veto.search(lowered):
            continue
        text = lowered
        for p in rules.mask:
            text = p.sub(_blank, text)
        if rules.fire.search(text):
            found.append(event)
    return found


def rule_scores(records: Iterable[Record]) -> dict[EventType, tuple[int, int, int]]:
    """(true positives, false positives, false negatives) of the rules per rare type, on
    records labelled exhaustively for events (the hand-written rare_events sets)."""
    out = {e: (0, 0, 0) for e in RARE_TYPES}
    for r in records:
        found, gold = set(weak_sentence_events(r.text)), set(r.events)
        for e in RARE_TYPES:
            tp, fp, fn = out[e]
            hit, want = e in found, e in gold
            out[e] = (tp + (hit and want), fp + (hit and not want), fn + (want and not hit))
    return out


def markdown() -> str:
    """The rule table as Markdown, for the documentation."""
    lines = ["| event type | kind | pattern | why |", "|---|---|---|---|"]

    def row(name: str, kind: str, cue: Cue) -> str:
        pattern = cue.pattern.replace("|", "\\|")
        return f"| {name} | {kind} | `{pattern}` | {cue.why} |"

    for event, rules in RULES.items():
        for kind, cues in (("fire", rules.fire), ("mask", rules.mask), ("veto", rules.veto)):
            lines += [row(event.value, kind, c) for c in cues]
    lines += [row("(every type)", "veto", c) for c in SHARED_VETO]
    return "\n".join(lines)


# A sentence ends at . ! or ? (plus closing quotes or brackets) before white space, or at a
# line break. Not after a title or a single initial ("Gen. Ochoa", "J. Smith"), and in cased
# text not before a lower-case letter.
_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*\s+|\s*\n\s*")
# fmt: off
_ABBREV = frozenset((
    "mr", "mrs", "ms", "dr", "gen", "lt", "col", "maj", "capt", "cpt", "sgt", "cmdr", "adm",
    "gov", "sen", "rep", "st", "no", "nos", "vs", "etc", "jr", "sr", "prof", "rev", "hon",
    "inc", "ltd", "co", "corp", "dept", "approx", "fig", "jan", "feb", "mar", "apr", "jun",
    "jul", "aug", "sep", "sept", "oct", "nov", "dec", "u.s", "u.n", "u.k", "i.e", "e.g",
))
# fmt: on


def split_sentences(text: str, *, cased: bool = True) -> list[tuple[int, int]]:
    """[start, end) offsets of the sentences of a text, white space trimmed; deterministic."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _END.finditer(text):
        if "\n" not in m.group(0):
            word = re.search(r"([\w.]+)[.!?]$", text[start : m.start() + 1])
            token = word.group(1).lower() if word else ""
            if token in _ABBREV or (len(token) == 1 and token.isalpha()):
                continue
            if cased and m.end() < len(text) and text[m.end()].islower():
                continue
        end = m.start() + len(m.group(0).rstrip())
        spans.append((start, end))
        start = m.end()
    spans.append((start, len(text)))
    out = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b > a:
            out.append((a, b))
    return out


def _sentences(record: Record) -> list[tuple[int, int]]:
    if record.sentences:  # IPE: the dataset's own sentence offsets
        return [(s.start, s.end) for s in record.sentences]
    return split_sentences(record.text, cased=not record.source.lowercased)


@dataclass(frozen=True)
class _Candidate:
    origin: Record
    start: int
    text: str
    key: str
    events: tuple[EventType, ...]


def _rank(key: str) -> str:
    return hashlib.sha256(f"weak_events:{key}".encode()).hexdigest()


def _held_out_keys(records: list[Record]) -> set[str]:
    """Text keys of every dev/test text and sentence: a weak sentence equal to one of them
    would put evaluation text into training (PLOVER test sentences also occur as CAMEO
    sentences, ConfliBERT's IPE test sentences as sentences of our IPE train documents)."""
    keys: set[str] = set()
    for r in records:
        if r.split is Split.TRAIN:
            continue
        keys.add(text_key(r.text))
        keys.update(text_key(r.text[a:b]) for a, b in _sentences(r))
    keys.discard("")
    return keys


def candidates(records: list[Record], log: ConversionLog) -> list[_Candidate]:
    """Every distinct TRAIN sentence of the source collections that a rule fires on."""
    held_out = _held_out_keys(records)
    seen: set[str] = set()
    out = []
    for r in records:
        if r.split is not Split.TRAIN or r.collection not in SOURCE_COLLECTIONS:
            continue
        for a, b in _sentences(r):
            text = r.text[a:b]
            if not MIN_SENTENCE_CHARS <= len(text) <= MAX_SENTENCE_CHARS:
                continue
            events = weak_sentence_events(text)
            if not events:
                continue
            key = text_key(text)
            if key in held_out:
                log.resolve(DATASET, "dropped_copy_of_dev_or_test_text")
                continue
            if key in seen:
                log.resolve(DATASET, "dropped_duplicate_sentence")
                continue
            seen.add(key)
            out.append(_Candidate(r, a, text, key, tuple(events)))
    return out


def select(found: list[_Candidate], cap: int = CAP_PER_TYPE) -> list[_Candidate]:
    """Up to `cap` sentences per type, lowest text-key hash first; original order kept.

    Rarest types choose first and every sentence keeps all its labels, so a type under the
    cap keeps all its sentences, and sentences chosen for a rarer type count towards the
    cap of the commoner types they also express.
    """
    having = {
        e: sorted((c for c in found if e in c.events), key=lambda c: _rank(c.key))
        for e in RARE_TYPES
    }
    chosen: set[str] = set()
    for event in sorted(RARE_TYPES, key=lambda e: len(having[e])):
        n = sum(c.key in chosen for c in having[event])
        for c in having[event]:
            if n >= cap:
                break
            if c.key not in chosen:
                chosen.add(c.key)
                n += 1
    return [c for c in found if c.key in chosen]


def to_record(c: _Candidate) -> Record:
    upstream = f"{c.origin.id}#{c.start}"
    return Record(
        id=f"{DATASET}/{upstream}",
        collection=DATASET,
        split=Split.TRAIN,
        text=c.text,
        source=Source(
            dataset=c.origin.source.dataset,
            file=c.origin.source.file,
            upstream_id=upstream,
            lowercased=c.origin.source.lowercased,
        ),
        annotated=[
            Coverage(
                label_set=LabelSet.EVENTS,
                labels=[e.value for e in RARE_TYPES],
                exhaustive=False,
            )
        ],
        events=list(c.events),
        coarse=coarse_of(c.events),
    )


def convert(data_dir: Path, log: ConversionLog) -> Iterator[Record]:
    """Weak records from the TRAIN records of SOURCE_COLLECTIONS.

    Converts every other collection once more (dev and test texts of all of them are
    needed to drop copies), so building the whole corpus runs the other converters twice.
    """
    from training.corpus import build  # build registers this module: import at call time

    others = [name for name in build.collections() if name not in COLLECTIONS]
    records = build.convert_all(data_dir, only=others).records
    if "rare_events" not in others:  # hand-written dev sentences are evaluation text too
        from training.corpus import convert_rare_events

        records += list(convert_rare_events.convert(data_dir, log))
    found = candidates(records, log)
    chosen = select(found)
    log.resolve(DATASET, "dropped_over_cap", len(found) - len(chosen))
    for c in chosen:
        yield to_record(c)
