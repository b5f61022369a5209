"""Format 4: CoNLL-style `token<TAB or space>tag` lines, one record per sentence.

Tags are BIO, BIOES/BILOU (read as BIO) or IOB1 (an I- after another type opens a span,
as bio_to_spans reads it). A file is taken as annotated for each layer whose labels occur
in it, with all of that layer's labels: a file with only entity tags says nothing on roles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from training.corpus.conll import join_tokens
from training.corrections.build import (
    Found,
    Layer,
    Marked,
    allowed,
    layer_coverage,
    layer_of,
    make_record,
    spans_of,
)
from training.corrections.errors import CorrectionsError

OPENS, CONTINUES = frozenset("BSU"), frozenset("IEL")


@dataclass
class Sentence:
    lines: list[int] = field(default_factory=list)  # the line of each token
    tokens: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)  # read as BIO
    bad: bool = False  # a problem was reported; no record


def read(path: Path, text_field: str, found: Found) -> None:
    del text_field  # CoNLL files hold tokens only
    sentences = _sentences(path, found.problems)
    seen: set[Layer] = set()
    for sentence in sentences:
        for i, (line, tag) in enumerate(zip(sentence.lines, sentence.tags, strict=True)):
            try:
                sentence.tags[i] = _bio(tag, f"{path}:{line}", seen)
            except CorrectionsError as e:
                found.problems.append(str(e))
                sentence.bad = True
    if not seen:
        raise CorrectionsError(
            f"{path}: no entity or role tag in the file, so what was annotated is unknown; "
            "tag the spans, or leave the file out"
        )
    annotated = [layer_coverage(layer) for layer in ("entity", "role") if layer in seen]
    for sentence in sentences:
        if sentence.bad or not sentence.tokens:
            continue
        where = f"{path}:{sentence.lines[0]}"
        try:
            text, labelled = join_tokens(sentence.tokens, sentence.tags)
            line_at = _line_at(sentence)
            marked = [
                Marked(s.start, s.end, _layer(s.label), s.label, f"{path}:{line_at[s.start]}")
                for s in labelled
            ]
            found.records.append(
                make_record(
                    text=text,
                    spans=spans_of(marked),
                    events=[],
                    annotated=annotated,
                    path=path,
                    upstream_id=f"line {sentence.lines[0]}",
                    where=where,
                )
            )
        except CorrectionsError as e:
            found.problems.append(str(e))


def _line_at(sentence: Sentence) -> dict[int, int]:
    """Character offset of each token (as join_tokens joins them) -> its line."""
    at, pos = {}, 0
    for line, token in zip(sentence.lines, sentence.tokens, strict=True):
        at[pos] = line
        pos += len(token) + 1
    return at


def _layer(label: str) -> Layer:
    layer = layer_of(label)
    if layer is None:  # _bio let it through: a bug here, not in the file
        raise AssertionError(f"label {label!r} passed the tag check")
    return layer


def _bio(tag: str, where: str, seen: set[Layer]) -> str:
    if tag == "O":
        return tag
    prefix, dash, label = tag.partition("-")
    if not dash or prefix not in OPENS | CONTINUES or len(prefix) != 1:
        raise CorrectionsError(
            f"{where}: tag {tag!r} is not O or B-/I-/E-/S- plus a label; use BIO or BIOES tags"
        )
    layer = layer_of(label)
    if layer is None:
        raise CorrectionsError(
            f"{where}: unknown label {label!r} in tag {tag!r}; use an entity type "
            f"({allowed('entity')}) or a role ({allowed('role')})"
        )
    seen.add(layer)
    return f"{'B' if prefix in OPENS else 'I'}-{label}"


def _sentences(path: Path, problems: list[str]) -> list[Sentence]:
    """Blank-line separated sentences; -DOCSTART- lines are ignored."""
    sentences, current = [], Sentence()
    try:
        with path.open(encoding="utf-8-sig") as f:
            for n, raw in enumerate(f, start=1):
                line = raw.rstrip("\r\n")
                if not line.strip():
                    if current.tokens or current.bad:
                        sentences.append(current)
                    current = Sentence()
                    continue
                fields = [x for x in (line.split("\t") if "\t" in line else line.split()) if x]
                if fields and fields[0].strip() == "-DOCSTART-":
                    continue
                if len(fields) != 2 or not fields[0].strip():
                    problems.append(
                        f"{path}:{n}: expected 'token<TAB>tag' or 'token tag', got {line!r}"
                    )
                    current.bad = True
                    continue
                current.lines.append(n)
                current.tokens.append(fields[0].strip())
                current.tags.append(fields[1].strip())
    except (OSError, UnicodeDecodeError) as e:
        raise CorrectionsError(f"{path}: cannot read the file ({e})") from None
    if current.tokens or current.bad:
        sentences.append(current)
    return sentences
