"""re3d (Dstl) entities: the original JSON documents and ConfliBERT's CoNLL sentences.

`re3d` is one record per document, text exactly as upstream `text` (the `title` is not
part of it; offsets index `text` in code points). Every entity goes through these steps,
in this order, each counted in the conversion log under dataset "re3d":

1. `value != text[begin:end]` -> skipped as `offset_mismatch`, never guessed.
2. Types come from the "re3d" rows of `mapping.MAPPING`; CommsIdentifier, Frequency,
   Coordinate and Url have no place in the schema -> `dropped_type:<Type>`.
3. `confidence < MIN_CONFIDENCE` (0.5) -> `low_confidence`. Confidence is a crowd posterior:
   about a quarter of the entities sit at exactly 0 and are mostly rejected automatic
   candidates ("may" as Person, "the camp" as Location, the losing type of a doubly typed
   span); ConfliBERT's CoNLL files keep entities from 0.5 up and none below.
4. Leading/trailing whitespace is cut from a span -> `trimmed_whitespace`; a span that is
   only whitespace is skipped as `blank_span`.
5. Overlaps: candidates are ranked by (longer span, higher confidence, earlier start,
   `TYPE_PRIORITY`) and accepted greedily unless they overlap an accepted one. Longest
   first because ConfliBERT kept the outermost reading of every nested pair, even where
   the inner entity had the higher confidence ("Nov. 24" inside the DocumentReference
   "a Nov. 24 statement"). Each rejection is counted by relation and deciding criterion:
   `identical_span:{higher_confidence,type_priority,duplicate}`, `nested:outermost`,
   `crossing:{longer_span,higher_confidence,earlier_start}`.

`re3d_conflibert` keeps ConfliBERT's sentence-level train/dev/test split unchanged, for
comparison with published numbers only (92 of 98 documents straddle its splits). Its log
dataset is "re3d_conflibert". Malformed tags are skipped (read as O); an I- tag that does
not continue a span of its label starts one (seqeval's reading), counted as
`orphan_inside_tag`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.schema import EntityType
from training.corpus.conll import ConllSentence, join_tokens, read_conll
from training.corpus.jsonlines import read_objects
from training.corpus.log import ConversionLog
from training.corpus.mapping import MAPPING
from training.corpus.record import Coverage, LabelSet, Record, Source, Span, Split
from training.corpus.splits import DEFAULT_SEED, assign_splits

COLLECTIONS: dict[str, str] = {
    "re3d": "re3d documents with character-offset entities, our document-level split "
    "stratified by source (use for training and model selection)",
    "re3d_conflibert": "ConfliBERT's re3d CoNLL sentences with their published "
    "sentence-level split (use only to compare with published numbers)",
}

# re3d type -> schema type, read from the one mapping table; None: no place, dropped.
ENTITY_TYPES: dict[str, EntityType | None] = {k: t.entity for k, t in MAPPING["re3d"].items()}

# Breaks ties between two types on the same span: the rare types users care most about first.
TYPE_PRIORITY: tuple[EntityType, ...] = (
    EntityType.WEAPON,
    EntityType.MIL_PLATFORM,
    EntityType.VEHICLE,
    EntityType.PER,
    EntityType.ORG,
    EntityType.NORP,
    EntityType.LOC,
    EntityType.DATE,
    EntityType.QUANTITY,
    EntityType.MONEY,
    EntityType.DOC_REF,
)

MIN_CONFIDENCE = 0.5
ORIGINAL_TYPES: frozenset[EntityType] = frozenset(t for t in ENTITY_TYPES.values() if t)
# ConfliBERT's conversion dropped Vehicle: in its files a vehicle is unknown, not "O".
CONFLIBERT_TYPES: frozenset[EntityType] = ORIGINAL_TYPES - {EntityType.VEHICLE}
FRACTIONS: dict[Split, float] = {Split.TRAIN: 0.7, Split.DEV: 0.15, Split.TEST: 0.15}
ORIGINAL_DIR = "re3d/original"
CONFLIBERT_DIR = "re3d/conflibert_split"


@dataclass(frozen=True)
class Candidate:
    """An entity that passed the per-entity checks and still competes for its span."""

    id: str
    start: int
    end: int
    entity: EntityType
    confidence: float


def coverage(types: frozenset[EntityType]) -> list[Coverage]:
    """Entity coverage listing `types` in schema order (never in data order)."""
    labels = [t.value for t in EntityType if t in types]
    return [Coverage(label_set=LabelSet.ENTITIES, labels=labels)]


def map_type(
    name: str,
    covered: frozenset[EntityType],
    dataset: str,
    file: str,
    where: str,
    log: ConversionLog,
) -> EntityType | None:
    """Our type for an upstream type name, or None after logging why there is none."""
    if name not in ENTITY_TYPES:
        log.skip(
            dataset,
            file,
            where,
            "unknown_type",
            f"type {name!r} is not in the re3d mapping table; add it there if upstream grew one",
        )
        return None
    mapped = ENTITY_TYPES[name]
    if mapped is None or mapped not in covered:
        log.resolve(dataset, f"dropped_type:{name}")
        return None
    return mapped


def entity_candidates(
    text: str, entities: Sequence[dict[str, Any]], file: str, log: ConversionLog
) -> list[Candidate]:
    """Steps 1-4 of the module docstring: what survives to compete for spans."""
    out: list[Candidate] = []
    for ent in entities:
        eid, begin, end = str(ent["_id"]), int(ent["begin"]), int(ent["end"])
        value, found = str(ent["value"]), text[begin:end]
        if value != found or end <= begin:
            log.skip(
                "re3d",
                file,
                eid,
                "offset_mismatch",
                f"value {value!r} but text[{begin}:{end}] is {found!r}",
            )
            continue
        mapped = map_type(str(ent["type"]), ORIGINAL_TYPES, "re3d", file, eid, log)
        if mapped is None:
            continue
        confidence = float(ent["confidence"])
        if confidence < MIN_CONFIDENCE:
            log.resolve("re3d", "low_confidence")
            continue
        start = begin + len(value) - len(value.lstrip())
        stop = end - (len(value) - len(value.rstrip()))
        if stop <= start:
            log.skip("re3d", file, eid, "blank_span", f"span {value!r} is only whitespace")
            continue
        if (start, stop) != (begin, end):
            log.resolve("re3d", "trimmed_whitespace")
        out.append(Candidate(eid, start, stop, mapped, confidence))
    return out


def _rank(c: Candidate) -> tuple[int, float, int, int]:
    return (c.start - c.end, -c.confidence, c.start, TYPE_PRIORITY.index(c.entity))


def _rule(loser: Candidate, winner: Candidate) -> str:
    """Name the relation and the criterion that decided, for the log."""
    if (loser.start, loser.end) == (winner.start, winner.end):
        if loser.confidence != winner.confidence:
            return "identical_span:higher_confidence"
        if loser.entity != winner.entity:
            return "identical_span:type_priority"
        return "identical_span:duplicate"
    if winner.start <= loser.start and loser.end <= winner.end:
        return "nested:outermost"
    if loser.end - loser.start != winner.end - winner.start:
        return "crossing:longer_span"
    if loser.confidence != winner.confidence:
        return "crossing:higher_confidence"
    return "crossing:earlier_start"


def resolve_overlaps(cands: Sequence[Candidate], log: ConversionLog) -> list[Candidate]:
    """Step 5: a non-overlapping subset, sorted by position, independent of input order."""
    kept: list[Candidate] = []
    for cand in sorted(cands, key=_rank):
        winner = next((k for k in kept if cand.start < k.end and k.start < cand.end), None)
        if winner is None:
            kept.append(cand)
        else:
            log.resolve("re3d", _rule(cand, winner))
    return sorted(kept, key=lambda c: (c.start, c.end))


def _original_docs(
    data_dir: Path, log: ConversionLog
) -> Iterator[tuple[str, dict[str, Any], list[Candidate]]]:
    """(source folder, document, resolved entities) for every document, folder by folder."""
    root = data_dir / ORIGINAL_DIR
    folders = sorted(p for p in root.iterdir() if (p / "documents.json").is_file())
    if not folders:
        raise FileNotFoundError(f"no <source>/documents.json under {root}; fetch re3d first")
    for folder in folders:
        file = f"{ORIGINAL_DIR}/{folder.name}/entities.json"
        docs = {str(d["_id"]): d for _, d in read_objects(folder / "documents.json")}
        by_doc: dict[str, list[dict[str, Any]]] = {d: [] for d in docs}
        for _, ent in read_objects(folder / "entities.json"):
            if str(ent["documentId"]) not in by_doc:
                log.skip(
                    "re3d",
                    file,
                    str(ent["_id"]),
                    "unknown_document",
                    f"documentId {ent['documentId']} is not in documents.json",
                )
                continue
            by_doc[str(ent["documentId"])].append(ent)
        for doc_id, doc in docs.items():
            cands = entity_candidates(str(doc["text"]), by_doc[doc_id], file, log)
            yield folder.name, doc, resolve_overlaps(cands, log)


def convert_original(data_dir: Path, log: ConversionLog) -> Iterator[Record]:
    """Collection `re3d`: one record per document, split by document within each source."""
    docs = list(_original_docs(data_dir, log))
    strata: dict[str, str] = {}
    for source, doc, _ in docs:
        strata.setdefault(str(doc["_id"]), source)
    splits = assign_splits(list(strata), FRACTIONS, seed=DEFAULT_SEED, strata=strata)
    annotated = coverage(ORIGINAL_TYPES)
    for source, doc, kept in docs:
        doc_id = str(doc["_id"])
        if strata[doc_id] != source:
            log.skip(
                "re3d",
                f"{ORIGINAL_DIR}/{source}/documents.json",
                doc_id,
                "duplicate_document",
                f"document id also used in {strata[doc_id]}",
            )
            continue
        yield Record(
            id=f"re3d/{doc_id}",
            collection="re3d",
            split=splits[doc_id],
            text=str(doc["text"]),
            source=Source(
                dataset="re3d", file=f"{ORIGINAL_DIR}/{source}/documents.json", upstream_id=doc_id
            ),
            annotated=annotated,
            spans=[Span(start=c.start, end=c.end, entity=c.entity) for c in kept],
        )


def tag_problem(tag: str) -> str | None:
    """Why a CoNLL tag is malformed, or None for `O` and `B-x`/`I-x`."""
    prefix, dash, label = tag.partition("-")
    if tag == "O" or (prefix in ("B", "I") and dash and label):
        return None
    return f"tag {tag!r} is neither O nor B-<type>/I-<type>"


def orphan_inside(tags: Sequence[str]) -> list[int]:
    """Indices of I- tags that do not continue a B-/I- of the same label."""
    out = []
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and tag_problem(tag) is None:
            prev = tags[i - 1] if i else "O"
            if prev not in (f"B-{tag[2:]}", tag):
                out.append(i)
    return out


def sentence_record(
    sent: ConllSentence, split: Split, n: int, file: str, log: ConversionLog
) -> Record:
    """One ConfliBERT sentence; text is its tokens joined by single spaces."""
    ds = "re3d_conflibert"
    tags = list(sent.tags)
    for i, tag in enumerate(tags):
        problem = tag_problem(tag)
        if problem:
            log.skip(
                ds, file, f"{split.value}:{sent.line + i}", "malformed_tag", f"{problem}; read as O"
            )
            tags[i] = "O"
    if orphans := orphan_inside(tags):
        log.resolve(ds, "orphan_inside_tag", len(orphans))
    text, tagged = join_tokens(sent.tokens, tags)
    where = f"{split.value}:{sent.line}"
    spans = []
    for t in tagged:
        mapped = map_type(t.label, CONFLIBERT_TYPES, ds, file, where, log)
        if mapped is not None:
            spans.append(Span(start=t.start, end=t.end, entity=mapped))
    return Record(
        id=f"{ds}/{split.value}/{n}",
        collection=ds,
        split=split,
        text=text,
        source=Source(dataset="re3d", file=file, upstream_id=where),
        annotated=coverage(CONFLIBERT_TYPES),
        spans=spans,
    )


def convert_conflibert(data_dir: Path, log: ConversionLog) -> Iterator[Record]:
    """Collection `re3d_conflibert`: the published split, sentence by sentence."""
    for split in Split:
        file = f"{CONFLIBERT_DIR}/{split.value}.txt"
        path = data_dir / file
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing; fetch ConfliBERT's re3d split first")
        for n, sent in enumerate(read_conll(path, "\t")):
            yield sentence_record(sent, split, n, file, log)


def convert(data_dir: Path, log: ConversionLog) -> Iterator[Record]:
    yield from convert_original(data_dir, log)
    yield from convert_conflibert(data_dir, log)
