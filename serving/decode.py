"""Model outputs (numpy) into spans and label probabilities, for one text at a time.

Tokens are read from the window where they have the most context (`windows.owner`);
a document's segment logits are the max over its windows of each window's mean (or over
its sentences' means, as the model was trained); a sentence's are the mean over its tokens.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from serving.heads import HEAD_BY_NAME, SEGMENT_HEADS, SEGMENT_SLICES, TOKEN_HEADS
from serving.schema import EntityType
from serving.sentences import split_sentences
from serving.windows import Window, owner


@dataclass(frozen=True)
class ScoredSpan:
    start: int
    end: int
    label: str
    score: float  # mean probability of the chosen tag over the span's tokens


@dataclass
class Decoded:
    entities: list[ScoredSpan]
    # Event roles and actor roles come from two heads: spans may overlap across the two.
    roles: list[ScoredSpan]
    document: dict[str, np.ndarray]  # head -> probabilities over its labels
    sentences: list[dict[str, np.ndarray]] = field(default_factory=list)
    windows: int = 1


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=axis, keepdims=True)
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


def head_probabilities(segment_logits: np.ndarray) -> dict[str, np.ndarray]:
    """Pooled segment logits [K] -> probabilities per head (sigmoid or softmax)."""
    out = {}
    for head in SEGMENT_HEADS:
        lg = segment_logits[SEGMENT_SLICES[head.name]]
        out[head.name] = _softmax(lg) if head.kind == "single" else _sigmoid(lg)
    return out


def nothing_found() -> dict[str, np.ndarray]:
    """Probability 0 for every label of every head: what an empty text gets."""
    return {head.name: np.zeros(len(head.labels), dtype=np.float32) for head in SEGMENT_HEADS}


# Words a span never ends on: articles, prepositions, conjunctions and relative words.
# The token heads sometimes stop a span one word late ("Ministry of Defence in", "a
# 12-year-old girl who") or tag such a word alone ("the" as ORG); no name or argument
# ends on one. All-capital forms stay (IN, OR: state codes).
FUNCTION_WORDS = frozenset((
    "a", "an", "the", "of", "in", "at", "on", "to", "for", "from", "with", "by", "into",
    "onto", "over", "under", "near", "after", "before", "during", "about", "against",
    "between", "among", "across", "through", "via", "per", "than", "as", "and", "or",
    "but", "nor", "that", "which", "who", "whom", "whose", "where", "when",
))  # fmt: skip
# Punctuation that joins or opens, so never ends a span ("UN-", "16:", "India'" of
# "India's"), and that separates, so never begins one (", Mosul district").
NO_END = frozenset(",;:-\u2013\u2014([{'\u2019")
NO_START = frozenset(",;:-\u2013\u2014)]}")
CLOSERS = {")": "(", "]": "[", "}": "{"}
# A span that ends on initials ("U.S", "U.N") or on one of these abbreviations takes the
# period after it: the tokenizer reads that period apart, and the heads leave it out.
ABBREVIATIONS = frozenset((
    "jan", "feb", "mar", "apr", "aug", "sep", "sept", "oct", "nov", "dec", "gen", "lt",
    "col", "capt", "sgt", "maj", "cpl", "adm", "cmdr", "gov", "sen", "rep", "dr", "mr",
    "mrs", "ms", "prof", "rev", "st", "inc", "co", "corp", "ltd", "jr", "sr",
))  # fmt: skip
INITIALS = re.compile(r"(?<!\w)(?:\w\.)+\w$")


# Entity types of things, never actors. The actor-role head learnt actors from CAMEO
# sentences (people, groups, states) and still marks weapons in other news as source or
# target actors ("Shahed-136", "Black Hawk helicopters": 32 such spans on written dev,
# none right, 29 inside sure ones), so an actor role inside a sure entity of a thing is
# dropped. Only a sure one: on CAMEO dev the entity head once called "The United Kingdom
# and the United States" a platform, at 0.26, and the actor there was right.
THINGS = frozenset(
    t.value for t in (EntityType.WEAPON, EntityType.MIL_PLATFORM, EntityType.VEHICLE)
)
SURE_THING = 0.5


@dataclass(frozen=True)
class Words:
    """A text's words over its tokens: where each begins, and which begin a paragraph."""

    text: str
    starts: np.ndarray  # [tokens] bool: the token begins a word
    paragraphs: np.ndarray  # [tokens] bool: a blank line comes before the token

    @classmethod
    def of(cls, text: str, offsets: np.ndarray) -> Words:
        return cls(text, word_starts(text, offsets), paragraph_starts(text, offsets))

    def ends_badly(self, start: int, end: int, span_start: int) -> bool:
        """Whether the word text[start:end] cannot end a span that begins at span_start:
        a function word, joining punctuation, or a bracket the span never opened ("fmln)",
        where "(fmln)" stays)."""
        word = self.text[start:end]
        if word.lower() in FUNCTION_WORDS and not (len(word) > 1 and word.isupper()):
            return True
        if word in CLOSERS:
            return CLOSERS[word] not in self.text[span_start:start]
        return bool(word) and set(word) <= NO_END

    def period_after(self, span_start: int, end: int, word_start: int) -> bool:
        """Whether a span ending at `end` on the word from word_start takes the period
        after it (`ABBREVIATIONS`)."""
        if self.text[end : end + 1] != ".":
            return False
        word = self.text[word_start:end]
        return word.lower() in ABBREVIATIONS or bool(INITIALS.search(self.text[span_start:end]))

    def starts_badly(self, start: int, end: int) -> bool:
        """Whether the word text[start:end] cannot begin a span: separating punctuation."""
        word = self.text[start:end]
        return bool(word) and set(word) <= NO_START


def paragraph_starts(text: str, offsets: np.ndarray) -> np.ndarray:
    """True where a blank line (two line breaks) separates a token from the one before:
    a span never runs across it (a dateline's last place and a paragraph's first name
    read as one place). A single line break does not stop a span, since hard-wrapped
    copy breaks names across lines."""
    breaks = np.array([m.start() for m in re.finditer("\n", text)], dtype=np.int64)
    out = np.zeros(len(offsets), dtype=bool)
    if len(offsets) < 2 or len(breaks) < 2:
        return out
    before = np.searchsorted(breaks, offsets[:, 0])
    out[1:] = before[1:] - np.searchsorted(breaks, offsets[:-1, 1]) >= 2
    return out


def word_starts(text: str, offsets: np.ndarray) -> np.ndarray:
    """True where a token begins a word: not glued to the previous token letter-to-letter."""
    starts = np.ones(len(offsets), dtype=bool)
    if len(offsets) < 2:
        return starts
    begin = offsets[1:, 0]
    # Only tokens that touch the previous one can continue a word: check those characters.
    touching = np.nonzero((begin == offsets[:-1, 1]) & (begin > 0))[0] + 1
    for i in touching.tolist():
        s = int(offsets[i, 0])
        if text[s - 1].isalnum() and text[s : s + 1].isalnum():
            starts[i] = False
    return starts


@lru_cache(maxsize=16)
def _tag_table(tags: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Per tag id: its kind (0 O, 1 B, 2 I), its label's id, and the labels."""
    labels = tuple(dict.fromkeys(t.split("-", 1)[1] for t in tags if t != "O"))
    kinds = np.array([0 if t == "O" else 1 if t.startswith("B-") else 2 for t in tags])
    types = np.array([-1 if t == "O" else labels.index(t.split("-", 1)[1]) for t in tags])
    return kinds, types, labels


@lru_cache(maxsize=16)
def _pairs(tags: tuple[str, ...]) -> tuple[int, np.ndarray, np.ndarray]:
    """O's id, and each I- tag's id beside the id of its label's B- tag."""
    inner = [i for i, t in enumerate(tags) if t.startswith("I-")]
    return (
        tags.index("O"),
        np.array(inner, dtype=np.intp),
        np.array([tags.index("B-" + tags[i][2:]) for i in inner], dtype=np.intp),
    )


@lru_cache(maxsize=16)
def _moves(tags: tuple[str, ...]) -> np.ndarray:
    """Log-weights of moving from one tag to the next: 0, or -inf where BIO forbids it.
    I-X only continues B-X or I-X, and B-X never directly follows B-X or I-X (that word
    would continue the span): read token by token, the model's long windows break names
    in two ("The" B-ORG, "Israeli" B-ORG, "government" I-ORG), and orphan I- tags open
    spans of their own (benchmarks/accuracy_notes.md, "Constrained decoding")."""
    kinds, types, _ = _tag_table(tags)
    same = (kinds[:, None] != 0) & (types[:, None] == types[None, :])
    banned = ((kinds[None, :] == 2) & ~same) | ((kinds[None, :] == 1) & same)
    return np.where(banned, -np.inf, 0.0)


def _viterbi(log_probs: np.ndarray, moves: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """The best path through `log_probs` [words, tags] that `moves` allows, starting
    after an O (no I- first)."""
    n, k = log_probs.shape
    score = log_probs[0] + np.where(kinds == 2, -np.inf, 0.0)
    back = np.zeros((n, k), dtype=np.intp)
    columns = np.arange(k)
    for t in range(1, n):
        options = score[:, None] + moves
        back[t] = options.argmax(0)
        score = options[back[t], columns] + log_probs[t]
    path = np.empty(n, dtype=np.intp)
    path[-1] = score.argmax()
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def best_tags(
    log_probs: np.ndarray, tags: tuple[str, ...], fresh: np.ndarray | None = None
) -> np.ndarray:
    """The most probable tag sequence that obeys BIO (`_moves`), by Viterbi, run only
    where the per-token argmax breaks BIO and only between words that are surely O.
    A `fresh` word (one after a blank line) takes no I- tag and may follow anything.

    Word t is surely O when O beats its other tags by at least what the next word would
    gain from I-X over B-X: any path with a tag at t can then take O there instead (and
    B-X for a following I-X) for no less. Such words split the text into pieces solved
    alone; a piece whose argmax obeys BIO keeps it. News is mostly sure O words, so the
    loop runs over a few words around each broken name, not the whole article."""
    kinds, _, _ = _tag_table(tags)
    moves = _moves(tags)
    o_tag, inner, begin = _pairs(tags)
    best = log_probs.argmax(-1)
    margin = log_probs[:, o_tag] - np.delete(log_probs, o_tag, axis=1).max(-1)
    gain = (log_probs[:, inner] - log_probs[:, begin]).max(-1)
    sure = margin >= np.maximum(np.r_[gain[1:], 0.0], 0.0)
    out = np.where(sure, o_tag, best)
    fresh = np.zeros(len(out), dtype=bool) if fresh is None else fresh
    broken = np.r_[kinds[out[0]] == 2, np.isinf(moves[out[:-1], out[1:]])]
    broken |= fresh & (kinds[out] == 2)
    if not broken.any():
        return out
    # Words between two sure ones, or up to a fresh one, share a number: a fresh word
    # begins a piece, and a piece is solved as if an O came before it.
    piece = np.cumsum(sure | fresh)
    for p in np.unique(piece[broken & ~sure]).tolist():
        words = np.nonzero((piece == p) & ~sure)[0]
        out[words] = _viterbi(log_probs[words], moves, kinds)
    return out


def _spans(
    logits: np.ndarray, tags: tuple[str, ...], offsets: np.ndarray, words: Words
) -> list[ScoredSpan]:
    """Spans at word level: a word takes the tag of its first sub-word token, so no span
    begins or ends inside a word ("rolda" + "n betancur" cannot happen). The words' tags
    are the most probable sequence BIO allows (`best_tags`), with no span across a blank
    line; words that cannot end or begin a span (`Words`) are dropped from its ends, and
    a span made of them alone goes. A span's score is the mean probability of its
    words' tags. Empty tokens neither open nor close spans."""
    n = len(offsets)
    if n == 0:
        return []
    probs = _softmax(logits)
    kinds, types, labels = _tag_table(tags)
    filled = offsets[:, 1] > offsets[:, 0]
    first_of_word = words.starts.copy()
    first_of_word[0] = True
    heads = np.nonzero(first_of_word & filled)[0]
    if len(heads) == 0:
        return []
    path = best_tags(np.log(np.maximum(probs[heads], 1e-30)), tags, words.paragraphs[heads])
    chosen = np.zeros(n)
    chosen[heads] = probs[heads, path]
    tag = np.zeros(n, dtype=np.intp)
    tag[heads] = path
    # Every other token reads its word's first tag: I- of its label inside a span.
    word = np.maximum.accumulate(np.where(first_of_word & filled, np.arange(n), 0))
    kind = np.where(first_of_word, kinds[tag], np.where(kinds[tag[word]] == 0, 0, 2))
    label = types[tag[word]]
    keep = np.nonzero(filled)[0]
    kind, label = kind[keep], label[keep]
    goes_on = np.zeros(len(keep), dtype=bool)
    goes_on[1:] = (kind[1:] == 2) & (kind[:-1] != 0) & (label[1:] == label[:-1])
    opens = (kind != 0) & ~goes_on
    in_span = kind != 0
    if not in_span.any():
        return []
    # Each span runs from where it opens to the last token of its group (a run of tokens
    # that continue it); its groups appear in token order.
    group = np.cumsum(opens)[in_span]
    positions = np.nonzero(in_span)[0]
    lasts = positions[np.r_[np.nonzero(np.diff(group))[0], len(group) - 1]]
    out = []
    begin, finish = offsets[:, 0], offsets[:, 1]
    # Where each word ends: the end of the last filled token before the next word.
    word_start = begin[heads].tolist()
    word_end = np.maximum.accumulate(np.where(filled, finish, 0))[np.r_[heads[1:], n] - 1]
    for a, b in zip(np.nonzero(opens)[0].tolist(), lasts.tolist(), strict=True):
        start, end = int(begin[keep[a]]), int(finish[keep[b]])
        inside = np.nonzero((begin[heads] >= start) & (finish[heads] <= end))[0].tolist()
        while inside and words.starts_badly(word_start[inside[0]], int(word_end[inside[0]])):
            inside.pop(0)
        while inside and words.ends_badly(
            word_start[inside[-1]], int(word_end[inside[-1]]), word_start[inside[0]]
        ):
            inside.pop()
        if inside:
            start, end = word_start[inside[0]], int(word_end[inside[-1]])
            if words.period_after(start, end, word_start[inside[-1]]):
                end += 1
            score = float(chosen[heads[inside]].mean())
            out.append(ScoredSpan(start, end, labels[label[a]], score))
    return out


def _bounds(spans: list[ScoredSpan]) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends of spans of one layer: they never overlap, so sorted by start
    their ends ascend too, and a bisection finds the ones around any position."""
    ordered = sorted((s.start, s.end) for s in spans)
    return np.array([a for a, _ in ordered], np.int64), np.array([b for _, b in ordered], np.int64)


def actors_not_things(actors: list[ScoredSpan], entities: list[ScoredSpan]) -> list[ScoredSpan]:
    """The actor-role spans that lie inside no sure entity of a thing (`THINGS`)."""
    starts, ends = _bounds([e for e in entities if e.label in THINGS and e.score > SURE_THING])
    out = []
    for s in actors:
        i = int(np.searchsorted(starts, s.start, side="right")) - 1  # the last to start by it
        if i < 0 or ends[i] < s.end:
            out.append(s)
    return out


def whole_names(roles: list[ScoredSpan], entities: list[ScoredSpan]) -> list[ScoredSpan]:
    """One role head's spans widened to every entity they cut through ("Tehrik" of
    "Tehrik-i-Taliban Pakistan"), since a role names whole entities (dev: MUC-4 role
    fillers 40.4 -> 42.0, written roles 59.5 -> 60.3; widening only to sure entities
    gained less). A span stays as it is where its widened form would reach another of
    the head's spans that does not widen to the same, so the head's spans still never
    overlap; of two that widen to the same, the surer one stays."""
    e_starts, e_ends = _bounds(entities)
    ordered = sorted(roles, key=lambda r: (r.start, r.end))
    r_starts, r_ends = _bounds(ordered)
    grown = []
    for r in ordered:
        # The entities it touches run from the first to end after its start to the last
        # to start before its end; only those two can stick out of it.
        first = int(np.searchsorted(e_ends, r.start, side="right"))
        last = int(np.searchsorted(e_starts, r.end, side="left")) - 1
        if first <= last:
            grown.append((min(r.start, int(e_starts[first])), max(r.end, int(e_ends[last]))))
        else:
            grown.append((r.start, r.end))
    out: dict[tuple[int, int], ScoredSpan] = {}
    for i, (r, (start, end)) in enumerate(zip(ordered, grown, strict=True)):
        near = range(
            int(np.searchsorted(r_ends, start, side="right")),
            int(np.searchsorted(r_starts, end, side="left")),
        )
        if any(j != i and grown[j] != (start, end) for j in near):
            start, end = r.start, r.end
        key = (start, end)
        if key not in out or out[key].score < r.score:
            out[key] = ScoredSpan(start, end, r.label, r.score)
    return list(out.values())


def merge_windows(
    windows: list[Window], window_outputs: list[dict[str, np.ndarray]], n_tokens: int
) -> dict[str, np.ndarray]:
    """Per-token logits of the whole text, head -> [n_tokens, K]: each token from the
    window that reads it with the most context (serving.windows.owner)."""
    own = owner(windows, n_tokens)
    merged: dict[str, np.ndarray] = {}
    for name in [*TOKEN_HEADS, "segment"]:
        width = window_outputs[0][f"{name}_logits"].shape[-1]
        out_head = np.zeros((n_tokens, width), dtype=np.float32)
        for w_index, (w, out) in enumerate(zip(windows, window_outputs, strict=True)):
            mine = np.nonzero(own[w.start : w.end] == w_index)[0]
            out_head[w.start + mine] = out[f"{name}_logits"][mine]
        merged[name] = out_head
    return merged


def decode_text(
    text: str,
    offsets: np.ndarray,
    windows: list[Window],
    window_outputs: list[dict[str, np.ndarray]],
    sentences: list[tuple[int, int]] | None = None,
    document_pooling: str = "windows",
) -> Decoded:
    """Decode one text from its windows' outputs (content positions only, no specials).
    `document_pooling` is the model's (EngineSettings): the document's segment logits are
    the max over the splitter's sentences of their means, or over the windows'."""
    n = len(offsets)
    token_logits = merge_windows(windows, window_outputs, n)
    pooled = [
        out["segment_logits"].mean(0)
        for w, out in zip(windows, window_outputs, strict=True)
        if w.end > w.start
    ]
    if document_pooling == "sentences":
        means = sentence_means(token_logits["segment"], offsets, split_sentences(text))
        pooled = [m for m in means if m is not None] or pooled
    doc = (
        np.max(np.stack(pooled), axis=0)
        if pooled
        else np.zeros(window_outputs[0]["segment_logits"].shape[-1], dtype=np.float32)
    )
    words = Words.of(text, offsets)
    entities = _spans(token_logits["entity"], TOKEN_HEADS["entity"], offsets, words)
    roles = _spans(token_logits["event_role"], TOKEN_HEADS["event_role"], offsets, words)
    actors = _spans(token_logits["actor_role"], TOKEN_HEADS["actor_role"], offsets, words)
    roles = whole_names(roles, entities) + whole_names(
        actors_not_things(actors, entities), entities
    )
    result = Decoded(
        entities=entities,
        roles=sorted(roles, key=lambda s: (s.start, s.end, s.label)),
        # A text with no token (only invisible or control characters) has nothing to
        # score: probability 0 everywhere, where pooling nothing would say 0.5.
        document=head_probabilities(doc) if n else nothing_found(),
        windows=len(windows),
    )
    result.sentences = [
        nothing_found() if p is None else head_probabilities(p)
        for p in sentence_means(token_logits["segment"], offsets, sentences or [])
    ]
    return result


def sentence_means(
    logits: np.ndarray, offsets: np.ndarray, sentences: Sequence[tuple[int, int]]
) -> list[np.ndarray | None]:
    """Mean segment logits over the non-empty tokens inside each sentence (None: no token).

    Prefix sums and binary search over the (ordered) token offsets: linear in tokens plus
    sentences, where a mask per sentence was their product (a 200,000-character text of
    "A. " has 66,666 sentences and as many tokens).
    """
    real = offsets[:, 1] > offsets[:, 0]
    width = logits.shape[-1]
    sums = np.zeros((len(offsets) + 1, width), dtype=np.float64)
    np.cumsum(np.where(real[:, None], logits, 0.0), axis=0, out=sums[1:])
    counts = np.concatenate([[0], np.cumsum(real)])
    # Tokens never overlap and come in text order, so starts and ends both ascend.
    bounds = np.asarray(sentences, dtype=np.int64).reshape(-1, 2)
    first = np.searchsorted(offsets[:, 0], bounds[:, 0], side="left")
    last = np.searchsorted(offsets[:, 1], bounds[:, 1], side="right")
    last = np.maximum(last, first)
    n = counts[last] - counts[first]
    means = (sums[last] - sums[first]) / np.maximum(n, 1)[:, None]
    return [m.astype(np.float32) if k else None for m, k in zip(means, n, strict=True)]


DEFAULT_THRESHOLD = 0.5


def chosen_labels(
    head: str, probs: np.ndarray, thresholds: Mapping[str, float] | None = None
) -> list[str]:
    """The labels a head predicts: the argmax of a softmax head; for a sigmoid head, those
    above its threshold (tuned on dev and shipped with the model, else 0.5)."""
    labels = HEAD_BY_NAME[head].labels
    if HEAD_BY_NAME[head].kind == "single":
        return [labels[int(probs.argmax())]] if probs.any() else []
    cut = (thresholds or {}).get(head, DEFAULT_THRESHOLD)
    return [lab for lab, p in zip(labels, probs, strict=True) if p > cut]


def event_labels(
    segment: Mapping[str, np.ndarray], thresholds: Mapping[str, float] | None = None
) -> list[str]:
    """The event types a document or sentence reports. The event threshold tuned on dev
    sits below 0.5 to catch the events of long articles; it holds where the coarse head
    finds a conflict event too, and elsewhere a type needs the default 0.5. The coarse
    head's four labels are surer of "no conflict" than the event head's eighteen (written
    dev, seventh release: non-conflict texts with no event type 88.6% -> 95.5%, event-type
    macro-F1 78.6 -> 79.1); a confident event head still wins ("a truck bomb exploded in
    Lima" inside an extradition request: BOMBING 0.61, every coarse type under 0.05)."""
    cut = (thresholds or {}).get("events", DEFAULT_THRESHOLD)
    if not chosen_labels("coarse", segment["coarse"], thresholds):
        cut = max(cut, DEFAULT_THRESHOLD)
    return chosen_labels("events", segment["events"], {"events": cut})


def decoded_json(
    text: str, result: Decoded, thresholds: Mapping[str, float] | None = None
) -> dict[str, object]:
    """A plain-JSON view of one result: spans with their text, labels above threshold."""

    def spans(found: list[ScoredSpan]) -> list[dict[str, object]]:
        return [
            {"start": s.start, "end": s.end, "text": text[s.start : s.end], "label": s.label,
             "score": round(s.score, 3)}
            for s in found
        ]  # fmt: skip

    def labels(head: str) -> list[dict[str, object]]:
        probs, names = result.document[head], HEAD_BY_NAME[head].labels
        found = (
            event_labels(result.document, thresholds)
            if head == "events"
            else chosen_labels(head, probs, thresholds)
        )
        chosen = [(n, float(probs[names.index(n)])) for n in found]
        return [{"label": n, "score": round(p, 3)} for n, p in sorted(chosen, key=lambda x: -x[1])]

    return {
        "entities": spans(result.entities),
        "roles": spans(result.roles),
        "event_types": labels("events"),
        "coarse_types": labels("coarse"),
        "windows": result.windows,
    }
