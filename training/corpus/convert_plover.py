"""PLOVER's gold-standard records: one record per coded sentence.

The sentences come from the CAMEO manual and were edited, so most are also CAMEO test
sentences, some word for word and some with a name changed. A sentence goes to TEST if
it is a CAMEO test sentence (`splits.cameo_split`, the rule the CAMEO converter uses) or
a near copy of one, so no PLOVER sentence trains a model that CAMEO tests.

PLOVER codes one main event per sentence, and actorText is a short head where CAMEO
marks whole noun phrases, so neither the event nor the role layer is exhaustive.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.schema import EventType, Role
from training.corpus.log import ConversionLog
from training.corpus.mapping import MAPPING, PLOVER_RULES, Rule, coarse_of
from training.corpus.record import Coverage, LabelSet, Record, Source, Span, Split
from training.corpus.splits import cameo_split, text_key

COLLECTIONS: dict[str, str] = {
    "plover": "PLOVER gold-standard sentences (CAMEO manual examples): event type and mode, "
    "source/target actors; split with the CAMEO test set",
}
DATASET = "plover"
REL = "plover/PLOVER_GSR_CAMEO.txt"
CAMEO_TEST_REL = "cameo/class/test.tsv"

# A PLOVER sentence is a copy of a CAMEO test sentence at or above this word-level
# similarity (difflib ratio). Only 262 of the 322 sentences match a CAMEO test sentence
# word for word; the other 60 are edited copies ("European Union" -> "European
# Community", a name respelled, a clause rewritten) that score 0.56-0.99 against their
# twin and at most 0.52 against any other test sentence. Missing a copy leaks a CAMEO
# test sentence into training; sending a stranger to TEST only costs a training example.
NEAR_COPY_RATIO = 0.55

JsonObj = dict[str, Any]
_ROLE = {k: t.role for k, t in MAPPING["plover_actor"].items() if t.role is not None}
SOURCE, TARGET, RECIPROCAL = _ROLE["source"], _ROLE["target"], _ROLE["SRC/TAR"]


def event_rule(event: str, mode: str | None, text: str) -> Rule:
    """The PLOVER_RULES rule that decides a sentence's event types."""
    rules = PLOVER_RULES.get((event, mode or "")) or PLOVER_RULES.get((event, "*"))
    if rules is None:
        raise ValueError(
            f"no PLOVER_RULES entry for PLOVER event {event!r} with mode {mode!r}; "
            "read the sentences with that code and add an entry"
        )
    rule = next((r for r in rules if r[0] is None or re.search(r[0], text, re.IGNORECASE)), None)
    if rule is None:
        raise ValueError(f"PLOVER_RULES entry ({event!r}, {mode!r}) needs a last rule with no cue")
    return rule


def table_event_types() -> list[EventType]:
    """Every event type PLOVER_RULES can produce, in schema order."""
    found = {e for rules in PLOVER_RULES.values() for _, events in rules for e in events}
    return [e for e in EventType if e in found]


@dataclass(frozen=True)
class CameoTest:
    keys: set[str]  # text_key of each CAMEO test sentence
    words: list[list[str]]


def read_cameo_test(data_dir: Path) -> CameoTest:
    """The CAMEO test sentences (`text<TAB>label` lines), read as the CAMEO converter does."""
    with (data_dir / CAMEO_TEST_REL).open(encoding="utf-8") as f:
        texts = [line.rsplit("\t", 1)[0] for line in f if line.strip()]
    return CameoTest(keys={text_key(t) for t in texts}, words=[_words(t) for t in texts])


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def is_near_copy(text: str, cameo_words: Sequence[list[str]]) -> bool:
    """Whether some CAMEO test sentence is this one with a few words changed."""
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(_words(text))
    for words in cameo_words:
        matcher.set_seq1(words)
        if (
            matcher.real_quick_ratio() >= NEAR_COPY_RATIO
            and matcher.quick_ratio() >= NEAR_COPY_RATIO
            and matcher.ratio() >= NEAR_COPY_RATIO
        ):
            return True
    return False


def plover_split(text: str, cameo: CameoTest, log: ConversionLog) -> Split:
    """`cameo_split`, plus TEST for near copies of CAMEO test sentences (counted)."""
    split = cameo_split(text, cameo.keys)
    if split is not Split.TEST and is_near_copy(text, cameo.words):
        log.resolve(DATASET, "split_near_copy_of_cameo_test")
        return Split.TEST
    return split


def find_actor(
    text: str, actor: str, taken: Sequence[tuple[int, int]] = ()
) -> tuple[int, int] | None:
    """Where an actorText occurs: the first occurrence that overlaps no span in `taken`.

    Exact before case-insensitive, and a whole word before a match inside a word ("Iraq"
    in "Iraqi"); runs of whitespace match any whitespace (actorText has double spaces).
    """
    words = actor.split()
    if not words:
        return None
    body = r"\s+".join(re.escape(w) for w in words)
    for flags in (0, re.IGNORECASE):
        for pattern in (rf"(?<!\w){body}(?!\w)", body):
            for m in re.finditer(pattern, text, flags):
                if all(m.end() <= s or e <= m.start() for s, e in taken):
                    return m.start(), m.end()
    return None


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


def reciprocal_segments(markup: str) -> list[str]:
    """The "(SRC/TAR: ...)" phrases of the markup: actors on both sides of the event."""
    return [_norm(m.group(1)) for m in re.finditer(r"\(SRC/TAR:\s*([^)]*)\)", markup)]


def actor_roles(raw: JsonObj, log: ConversionLog) -> list[tuple[str, Role]]:
    """Source and target actorTexts with their roles, sources first, in upstream order.

    An actor is reciprocal if the markup puts it in a SRC/TAR phrase (either text may
    contain the other: "Greek" vs "Greek-Cypriot") or it is both a source and a target.
    """
    where = str(raw.get("id"))
    info = raw.get("textInfo")
    markup = info.get("markup", "") if isinstance(info, dict) else str(info or "")
    segments = reciprocal_segments(markup)
    sources = _actor_texts(raw.get("source"), "source", where, log)
    targets = _actor_texts(raw.get("target"), "target", where, log)

    def in_markup(actor: str) -> bool:
        n = _norm(actor)
        return any(s and (n in s or s in n) for s in segments)

    out: list[tuple[str, Role]] = []
    source_keys = {_norm(s) for s in sources}
    target_keys = {_norm(t) for t in targets}
    for actor in sources:
        if _norm(actor) in target_keys:
            out.append((actor, RECIPROCAL))
            log.resolve(DATASET, "actor_source_and_target")
        elif in_markup(actor):
            out.append((actor, RECIPROCAL))
            log.resolve(DATASET, "actor_reciprocal_from_markup")
        else:
            out.append((actor, SOURCE))
    for actor in targets:
        if _norm(actor) in source_keys:
            continue  # already a reciprocal span
        if in_markup(actor):
            out.append((actor, RECIPROCAL))
            log.resolve(DATASET, "actor_reciprocal_from_markup")
        else:
            out.append((actor, TARGET))
    return out


def _actor_texts(value: object, field: str, where: str, log: ConversionLog) -> list[str]:
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        log.skip(DATASET, REL, where, "bad_actor_field", f"{field} is {value!r}, not a list")
        return []
    out: list[str] = []
    for actor in value:
        text = actor.get("actorText") if isinstance(actor, dict) else None
        if not isinstance(text, str) or not text.strip():
            log.skip(DATASET, REL, where, "empty_actor", f"{field} actor {actor!r}")
            continue
        out.append(text)
    return out


def actor_spans(text: str, raw: JsonObj, log: ConversionLog) -> list[Span]:
    """Role spans for the actors found in the text; the rest are logged as skipped."""
    where = str(raw.get("id"))
    taken: list[tuple[int, int]] = []
    spans: list[Span] = []
    for actor, role in actor_roles(raw, log):
        place = find_actor(text, actor, taken)
        if place is None:
            kind = "span_not_found" if find_actor(text, actor) is None else "span_overlap"
            log.skip(DATASET, REL, where, kind, f"{role.value} {actor!r}")
            continue
        start, end = place
        if text[start:end] != actor:
            log.resolve(DATASET, "actor_matched_case_or_space_blind")
        elif start != text.find(actor):
            log.resolve(DATASET, "actor_matched_later_occurrence")
        taken.append(place)
        spans.append(Span(start=start, end=end, role=role))
    return sorted(spans, key=lambda s: s.start)


COVERAGE = [
    Coverage(
        label_set=LabelSet.EVENTS,
        labels=[e.value for e in table_event_types()],
        exhaustive=False,
    ),
    Coverage(
        label_set=LabelSet.ROLES,
        labels=[r.value for r in (SOURCE, TARGET, RECIPROCAL)],
        exhaustive=False,
    ),
]


def sentence_record(raw: JsonObj, record_id: str, cameo: CameoTest, log: ConversionLog) -> Record:
    """One upstream PLOVER record (not a DOCUMENT one) as a Record."""
    text = str(raw["text"])
    pattern, events = event_rule(str(raw["event"]), raw.get("mode"), text)
    if pattern is not None:
        log.resolve(DATASET, f"event_by_text_cue:{raw['event']}/{raw.get('mode') or ''}")
    return Record(
        id=record_id,
        collection="plover",
        split=plover_split(text, cameo, log),
        text=text,
        source=Source(dataset=DATASET, file=REL, upstream_id=str(raw["id"])),
        annotated=COVERAGE,
        spans=actor_spans(text, raw, log),
        events=[e for e in EventType if e in events],
        coarse=coarse_of(events),
    )


def convert(data_dir: Path, log: ConversionLog) -> Iterator[Record]:
    with (data_dir / REL).open(encoding="utf-8") as f:
        records = json.load(f)
    if not isinstance(records, list):
        raise ValueError(f"{data_dir / REL}: expected a JSON array of PLOVER records")
    cameo = read_cameo_test(data_dir)
    seen: dict[str, int] = {}
    for n, raw in enumerate(records):
        upstream_id = str(raw.get("id", f"#{n}"))
        if raw.get("event") == "DOCUMENT":
            log.resolve(DATASET, "document_record_skipped")
            continue
        if not str(raw.get("text") or "").strip():
            log.skip(DATASET, REL, upstream_id, "no_text", f"record {n} has no text")
            continue
        seen[upstream_id] = seen.get(upstream_id, 0) + 1
        record_id = f"{DATASET}/{upstream_id}"
        if seen[upstream_id] > 1:  # one id is used for two different sentences
            record_id += f"#{seen[upstream_id]}"
            log.resolve(DATASET, "duplicate_upstream_id")
        yield sentence_record(raw, record_id, cameo, log)
