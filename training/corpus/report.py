"""The data report: counts per collection, split and label; overlaps; what was skipped.

It is Markdown with no dates or paths in it, so the same data always gives the same
report, and data/README.md can hold the current one (a slow test checks it does).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from training.corpus import mapping
from training.corpus.build import Corpus, collections
from training.corpus.record import Record, Split
from training.corpus.splits import text_key

START = "<!-- report:start -->"
END = "<!-- report:end -->"
SPLITS = [s.value for s in Split]
_MAX_LISTED = 12  # problems listed one by one per (dataset, kind); the rest are counted

# Views of the same texts, checked for leaks: (a, b, whether b's texts contain a's).
PAIRS = [
    ("re3d_conflibert", "re3d", True),
    ("ipe_conflibert_sents", "ipe", False),
    ("ipe_conflibert_docs", "ipe", False),
    ("plover", "cameo_class", False),
    ("cameo_ner", "cameo_class", False),
]


def _table(header: list[str], rows: Iterable[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _labels(r: Record) -> Counter[str]:
    """Every label occurrence in a record, prefixed by its layer."""
    c: Counter[str] = Counter()
    for s in r.spans:
        if s.entity:
            c[f"entity {s.entity.value}"] += 1
        if s.role:
            c[f"role {s.role.value}"] += 1
    c.update(f"event {e.value}" for e in r.events)
    c.update(f"coarse {x.value}" for x in r.coarse)
    for name, values in r.tasks.model_dump().items():
        c.update(f"{name} {v}" for v in values)
    for sent in r.sentences:
        c.update(f"sentence event {e.value}" for e in sent.events)
        c.update(f"sentence ipe {v}" for v in sent.tasks.ipe)
    c.update(f"template {t.incident_type}" for t in r.templates)
    return c


def _counts_section(by_name: dict[str, list[Record]]) -> str:
    rows = []
    for name, records in by_name.items():
        n = Counter(r.split.value for r in records)
        sents = sum(len(r.sentences) for r in records)
        chars = sum(len(r.text) for r in records)
        rows.append([name, *(n[s] for s in SPLITS), len(records), sents, chars])
    head = ["collection", *SPLITS, "records", "labelled sentences", "characters"]
    return "## Records\n\n" + _table(head, rows)


def _labels_section(by_name: dict[str, list[Record]]) -> str:
    parts = ["## Labels per split"]
    for name, records in by_name.items():
        per: dict[str, Counter[str]] = {s: Counter() for s in SPLITS}
        for r in records:
            per[r.split.value].update(_labels(r))
        names = sorted(set().union(*per.values()))
        if not names:
            continue
        empty = sum(1 for r in records if not _labels(r))
        rows = [[label, *(per[s][label] for s in SPLITS)] for label in names]
        parts.append(
            f"### {name}\n\n{empty} of {len(records)} records have no label at all.\n\n"
            + _table(["label", *SPLITS], rows)
        )
    return "\n\n".join(parts)


def _duplicates_section(by_name: dict[str, list[Record]]) -> str:
    rows = []
    for name, records in by_name.items():
        splits_of: dict[str, set[str]] = defaultdict(set)
        count: Counter[str] = Counter()
        for r in records:
            key = text_key(r.text)
            splits_of[key].add(r.split.value)
            count[key] += 1
        repeated = sum(1 for k in count if count[k] > 1)
        cross = [k for k, s in splits_of.items() if len(s) > 1]
        test_in_train = sum(
            1 for r in records if r.split is Split.TEST and "train" in splits_of[text_key(r.text)]
        )
        rows.append([name, repeated, len(cross), test_in_train])
    return (
        "## Duplicate texts within a collection\n\n"
        "Texts compared case-, space- and punctuation-blind.\n\n"
        + _table(
            [
                "collection",
                "texts seen more than once",
                "texts in more than one split",
                "test records whose text is in train",
            ],
            rows,
        )
    )


def _units(r: Record) -> list[str]:
    if r.sentences:
        return [text_key(r.text[s.start : s.end]) for s in r.sentences]
    return [text_key(r.text)]


def _leaks_section(by_name: dict[str, list[Record]]) -> str:
    parts = [
        "## Overlaps between views of the same texts\n\n"
        "Rows: split of a record in the first collection; columns: splits of the second "
        "collection where the same text occurs (contained in a document, for document "
        "collections without sentence labels). Only records of the first collection found "
        "in the second are counted."
    ]
    for a, b, contain in PAIRS:
        if not by_name.get(a) or not by_name.get(b):
            continue
        found: dict[str, Counter[str]] = {s: Counter() for s in SPLITS}
        if contain:
            joined = {
                s: "\n".join(text_key(r.text) for r in by_name[b] if r.split.value == s)
                for s in SPLITS
            }
            for r in by_name[a]:
                key = text_key(r.text)
                for s in SPLITS:
                    if key and key in joined[s]:
                        found[r.split.value][s] += 1
        else:
            where: dict[str, set[str]] = defaultdict(set)
            for r in by_name[b]:
                for u in _units(r):
                    where[u].add(r.split.value)
            for r in by_name[a]:
                hits = set().union(*(where.get(u, set()) for u in _units(r)))
                for s in hits:
                    found[r.split.value][s] += 1
        rows = [[f"{a} {s}", *(found[s][t] for t in SPLITS)] for s in SPLITS]
        parts.append(f"### {a} in {b}\n\n" + _table([a, *(f"{b} {t}" for t in SPLITS)], rows))
    return "\n\n".join(parts)


def _problems_section(corpus: Corpus) -> str:
    parts = ["## Skipped and resolved"]
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for p in corpus.log.problems:
        groups[(p.dataset, p.kind)].append(f"{p.file} {p.where}: {p.detail}")
    rows = [[d, k, len(v)] for (d, k), v in sorted(groups.items())]
    parts.append(
        "Left out of the corpus (never guessed):\n\n"
        + (_table(["dataset", "kind", "count"], rows) if rows else "nothing.")
    )
    for (d, k), items in sorted(groups.items()):
        shown = "\n".join(f"- {item}" for item in items[:_MAX_LISTED])
        more = len(items) - _MAX_LISTED
        parts.append(f"#### {d}: {k}\n\n{shown}" + (f"\n- ... and {more} more" if more > 0 else ""))
    resolved = sorted(corpus.log.resolved.items())
    parts.append(
        "Resolved by a documented rule (see the converter's docstring):\n\n"
        + _table(["dataset", "rule", "times"], [[d, k, n] for (d, k), n in resolved])
    )
    return "\n\n".join(parts)


def render(corpus: Corpus) -> str:
    by_name = {k: v for k, v in corpus.by_collection().items() if v}
    described = _table(["collection", "what it is"], [[k, collections()[k]] for k in by_name])
    return (
        "\n\n".join(
            [
                "# Data report",
                "Made by `conflict-tagger data report`.",
                described,
                _counts_section(by_name),
                _duplicates_section(by_name),
                _leaks_section(by_name),
                _problems_section(corpus),
                "## Mapping table\n\nFrom `training/corpus/mapping.py`.\n\n" + mapping.markdown(),
                _labels_section(by_name),
            ]
        )
        + "\n"
    )


def replace_section(document: str, report: str) -> str:
    """Put the report between the START and END markers of a Markdown document."""
    if START not in document or END not in document:
        raise ValueError(f"the document has no {START} ... {END} section to replace")
    head, rest = document.split(START, 1)
    _, tail = rest.split(END, 1)
    body = report.replace("# Data report", "## Data report", 1).replace("\n## ", "\n### ")
    return f"{head}{START}\n{body}{END}{tail}"
