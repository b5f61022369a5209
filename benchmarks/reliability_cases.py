"""The bad-input battery of benchmarks/reliability.py: the requests, and what a 200 must hold.

`battery(limits, seed)` makes every case: wrong types, bodies that are not JSON or not
UTF-8, lone surrogates in JSON escapes, deep nesting, duplicate keys, compressed bodies and
wrong content types, odd Unicode, texts of junk characters only, texts at and over every
limit the server reports in `/metadata`, the long texts a client may send by mistake, and
seeded random Unicode texts and damaged bodies. Each case is a request (method, route,
headers, body); the texts the server should tag are read back from the body (`texts_of`),
so a 200 can be checked against them (`result_problems`).
"""

from __future__ import annotations

import gzip
import json
import math
import random
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from training.corpus.sources import project_root

JSON = (("Content-Type", "application/json"),)
ROUTES = ("/tag", "/tag_batch", "/tag_adaptive")
# What the service's defaults are (serving/checks.py); the battery uses /metadata's.
DEFAULT_LIMITS: Mapping[str, int] = {
    "max_chars": 200_000, "max_docs": 64, "max_total_chars": 1_000_000,
    "max_tokens": 100_000, "call_tokens": 16_384,
}  # fmt: skip
# Characters that carry no text: a document of these alone (and whitespace) must come back
# with no entities, roles or events.
JUNK = {"zwsp": "\u200b", "bom": "\ufeff", "shy": "\u00ad", "nul": "\x00"}
SENTENCE = (
    "Gunmen from the Sahel Liberation Front attacked an army checkpoint outside Kayes on "
    "Tuesday, killing four soldiers, the defence ministry said."
)
SLOTS = ("perpetrators", "victims", "targets", "instruments", "locations", "dates", "actors")


@dataclass(frozen=True)
class Case:
    name: str  # unique; "group/what"
    body: bytes
    route: str = "/tag"
    headers: tuple[tuple[str, str], ...] = JSON
    method: str = "POST"

    @property
    def group(self) -> str:
        return self.name.split("/", 1)[0]


# --- texts -------------------------------------------------------------------------------


@cache
def _articles() -> str:
    path = project_root() / "data" / "written" / "articles.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return "\n\n".join(row["text"] for row in rows)


def prose(n: int, start: int = 0) -> str:
    """`n` characters of news prose (the project's written articles, end to end, again as
    often as needed), from character `start` of that stream: never blank for n >= 1."""
    text = _articles()
    start %= len(text)
    while text[start].isspace():
        start += 1
    out = text[start:]
    while len(out) < n:
        out += "\n\n" + text
    return out[:n]


def repeated(sentence: str, n: int) -> str:
    return (sentence + " ") * (n // (len(sentence) + 1)) + sentence[: n % (len(sentence) + 1)]


def is_junk(text: str) -> bool:
    """Only the junk characters (and whitespace), at least one of them."""
    stripped = "".join(c for c in text if not c.isspace())
    return bool(stripped) and all(c in JUNK.values() for c in stripped)


# --- bodies ------------------------------------------------------------------------------


def body(route: str, texts: Sequence[str], ascii_only: bool = False) -> bytes:
    """The request `route` takes for `texts` ({"text"} for /tag: one text)."""
    value: dict[str, Any] = {"text": texts[0]} if route == "/tag" else {"texts": list(texts)}
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def text_case(name: str, text: str, route: str = "/tag", ascii_only: bool = False) -> Case:
    return Case(name, body(route, [text], ascii_only), route)


def json_case(name: str, value: Any, route: str = "/tag") -> Case:
    return Case(name, json.dumps(value).encode(), route)


def texts_of(case: Case) -> list[str] | None:
    """The texts a server that took `case` tagged (JSON's last duplicate key wins, as in
    pydantic's parser); None when the body holds no request."""
    try:
        value = json.loads(case.body)
    except (ValueError, RecursionError):
        return None
    field = "text" if case.route == "/tag" else "texts"
    if not isinstance(value, dict) or field not in value:
        return None
    found = value[field]
    texts = [found] if case.route == "/tag" else found
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        return None
    return texts


# --- hand-made cases ---------------------------------------------------------------------


def wrong_types() -> Iterator[Case]:
    values: dict[str, Any] = {
        "int": 1, "float": 1.5, "null": None, "true": True, "string": "a", "list": ["a"],
        "object": {"a": "b"}, "empty-list": [],
    }  # fmt: skip
    for route in ROUTES:
        field = "text" if route == "/tag" else "texts"
        r = route.strip("/")
        for kind, value in values.items():
            if route != "/tag" and kind == "list":
                continue  # a valid request
            if route == "/tag" and kind == "string":
                continue
            yield json_case(f"types/{r}/{field}-{kind}", {field: value}, route)
            yield json_case(f"types/{r}/body-{kind}", value, route)
        yield json_case(f"types/{r}/missing-field", {}, route)
        yield json_case(f"types/{r}/misspelt-field", {"txt": "a"}, route)
        yield json_case(f"types/{r}/extra-field", {field: _valid(route), "lang": "en"}, route)
        yield json_case(f"types/{r}/body-of-requests", [{field: _valid(route)}], route)
    for kind, texts in {
        "int-item": [1], "null-item": [None], "mixed": ["a", 2], "nested": [["a"]],
        "object-item": [{"text": "a"}], "empty-item": ["a", ""], "blank-item": [" \n"],
    }.items():  # fmt: skip
        for route in ROUTES[1:]:
            yield json_case(f"types/{route.strip('/')}/texts-{kind}", {"texts": texts}, route)
    for kind, text in {
        "empty": "",
        "spaces": "   \n\t",
        "unicode-spaces": "\u3000\u2003\u00a0",
    }.items():
        yield text_case(f"types/tag/text-{kind}", text)


def _valid(route: str) -> Any:
    return SENTENCE if route == "/tag" else [SENTENCE]


def broken_bodies(rng: random.Random) -> Iterator[Case]:
    raw = {
        "empty": b"", "open-brace": b"{", "unclosed": b'{"text": "a"',
        "trailing": b'{"text": "a"} x',
        "two-objects": b'{"text": "a"}{"text": "b"}', "single-quotes": b"{'text': 'a'}",
        "trailing-comma": b'{"text": "a",}', "bare-key": b'{text: "a"}',
        "comment": b'// note\n{"text": "a"}', "nan": b'{"text": NaN}',
        "infinity": b'{"text": Infinity}',
        "raw-control-char": b'{"text": "a\x01b"}', "raw-newline": b'{"text": "a\nb"}',
        "bad-escape": b'{"text": "a\\qb"}', "short-unicode-escape": b'{"text": "\\u12"}',
        "utf8-bom": b'\xef\xbb\xbf{"text": "a"}', "invalid-utf8": b'{"text": "\xff\xfe"}',
        "overlong-utf8": b'{"text": "\xc0\xaf"}', "utf8-surrogate": b'{"text": "\xed\xa0\x80"}',
        "cut-utf8": b'{"text": "\xe2\x82"}', "latin1": '{"text": "café"}'.encode("latin-1"),
        "utf16": '{"text": "a"}'.encode("utf-16"), "utf32": '{"text": "a"}'.encode("utf-32"),
        "nul-bytes": b"\x00" * 16, "huge-number": b'{"text": 1' + b"0" * 5000 + b"}",
        "form": b"text=Gunmen+attacked+Kayes",
    }  # fmt: skip
    for kind, data in raw.items():
        yield Case(f"bytes/{kind}", data)
    for i in range(10):
        yield Case(f"bytes/random-{i}", rng.randbytes(rng.randint(1, 4096)))


def surrogates() -> Iterator[Case]:
    escapes = {
        "high": "\\ud800", "high-last": "\\udbff", "low": "\\udc00", "low-last": "\\udfff",
        "high-inside": "a\\ud83dz", "high-at-end": "news\\ud83d",
        "reversed-pair": "\\ude00\\ud83d", "two-highs": "\\ud83d\\ud83d",
        "valid-pair": "\\ud83d\\ude00", "escaped-backslash": "\\\\ud800",
    }  # fmt: skip
    for kind, escape in escapes.items():
        yield Case(f"surrogate/tag-{kind}", f'{{"text": "{escape}"}}'.encode())
        yield Case(
            f"surrogate/batch-{kind}", f'{{"texts": ["ok", "{escape}"]}}'.encode(), "/tag_batch"
        )


def nesting() -> Iterator[Case]:
    for depth in (64, 129, 1_000, 100_000):
        arrays = b"[" * depth + b"]" * depth
        objects = b'{"a": ' * depth + b"1" + b"}" * depth
        yield Case(f"nesting/body-arrays-{depth}", arrays)
        yield Case(f"nesting/body-objects-{depth}", objects)
        yield Case(f"nesting/text-arrays-{depth}", b'{"text": ' + arrays + b"}")
        yield Case(f"nesting/extra-field-{depth}", b'{"text": "a", "x": ' + objects + b"}")
        yield Case(f"nesting/texts-{depth}", b'{"texts": ' + arrays + b"}", "/tag_batch")


def duplicate_keys() -> Iterator[Case]:
    other = "Troops left Gao on Monday."
    yield Case("duplicate/text-twice", f'{{"text": "{SENTENCE}", "text": "{other}"}}'.encode())
    yield Case("duplicate/number-then-text", f'{{"text": 1, "text": "{other}"}}'.encode())
    yield Case("duplicate/text-then-number", f'{{"text": "{other}", "text": 1}}'.encode())
    yield Case("duplicate/text-then-null", f'{{"text": "{other}", "text": null}}'.encode())
    many = ", ".join(f'"text": "{i} {other}"' for i in range(1000))
    yield Case("duplicate/text-1000-times", f"{{{many}}}".encode())
    yield Case(
        "duplicate/texts-twice", f'{{"texts": ["{SENTENCE}"], "texts": ["{other}"]}}'.encode(),
        "/tag_batch",
    )  # fmt: skip


def encodings() -> Iterator[Case]:
    valid = body("/tag", [SENTENCE])
    for coding, packed in (("gzip", gzip.compress(valid)), ("deflate", zlib.compress(valid))):
        headers = (*JSON, ("Content-Encoding", coding))
        yield Case(f"encoding/{coding}-declared", packed, headers=headers)
        yield Case(f"encoding/{coding}-undeclared", packed)
    yield Case("encoding/br-declared", valid, headers=(*JSON, ("Content-Encoding", "br")))
    yield Case(
        "encoding/gzip-declared-not-gzip", valid, headers=(*JSON, ("Content-Encoding", "gzip"))
    )
    yield Case("encoding/identity", valid, headers=(*JSON, ("Content-Encoding", "identity")))
    types = (
        "text/html", "application/xml", "multipart/form-data; boundary=x", "image/png",
        "application/octet-stream", "application/json; charset=latin-1",
        "application/json; charset=utf-16", "application/json; charset=utf-8", "text/plain",
        "application/ld+json", "application/x-www-form-urlencoded", "*/*", "APPLICATION/JSON",
        "application/json; charset=\"UTF-8\"", "garbage",
    )  # fmt: skip
    for i, media in enumerate(types):
        yield Case(
            f"content-type/{i:02d}-{media.split(';')[0]}", valid, headers=(("Content-Type", media),)
        )
    yield Case("content-type/none", valid, headers=())
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        yield Case(f"method/{method}", valid, method=method)
    yield Case("method/unknown-route", valid, "/tags")


def _styled(text: str, upper: int, lower: int) -> str:
    """`text` with its ASCII letters moved to another block (mathematical bold, fullwidth)."""
    return "".join(
        chr(upper + ord(c) - 65) if c.isupper() else chr(lower + ord(c) - 97) if c.islower() else c
        for c in text
    )


UNICODE: Mapping[str, str] = {
    "arabic": "هاجم مسلحون نقطة تفتيش للجيش قرب كايس يوم الثلاثاء وقتلوا أربعة جنود.",
    "hebrew": "חמושים תקפו מחסום של הצבא ליד קאיס ביום שלישי.",
    "bidi-override": "Rebels attacked \u202eKayes\u202c on \u2067Monday\u2069 near \u200fGao.",
    "rtl-mixed": "The army said مسلحون attacked Kayes (كايس) on 3 May, killing 4.",
    "emoji-sentence": "Gunmen 🔫 attacked a checkpoint 🚧 near Kayes 🇲🇱 on Tuesday 💥.",
    "emoji-zwj": "👨\u200d👩\u200d👧\u200d👦 fled " * 20,
    "flags": "🇲🇱🇳🇪🇧🇫🇸🇾🇺🇦 " * 30,
    "skin-tones": "👍🏽👍🏿✊🏾 " * 30,
    "combining-zalgo": "R\u0336\u0334e\u0301\u0302b\u0308\u0327els a\u0300ttacked Kay\u0308es" * 5,
    "combining-only": "\u0301\u0302\u0303\u0308" * 50,
    "nfd": "Ca\u0301ceres and Bogota\u0301 saw attacks by the E\u0301LN.",
    "cjk": "武装分子周二袭击了卡伊附近的一个军队检查站\uff0c打死四名士兵。",
    "hangul": "무장 괴한들이 화요일 카예스 근처 군 검문소를 공격했다.",
    "devanagari": "बंदूकधारियों ने मंगलवार को कायेस के पास सेना की चौकी पर हमला किया।",
    "thai": "มือปืนบุกโจมตีจุดตรวจของกองทัพใกล้เมืองกาเยส",
    "math-bold": _styled("Gunmen attacked Kayes on Tuesday.", 0x1D400, 0x1D41A),
    "fullwidth": _styled("Gunmen attacked Kayes on Tuesday.", 0xFF21, 0xFF41),
    "private-use": "\ue000\ue001 attacked \U000f0000 near Kayes.",
    "noncharacters": "\ufffe\uffff\U0010ffff attacked Kayes.",
    "replacement": "\ufffd\ufffd Rebels attacked Kayes \ufffd.",
    "line-separators": f"{SENTENCE}\u2028{SENTENCE}\u2029{SENTENCE}",
    "crlf-tabs": f"{SENTENCE}\r\n\t{SENTENCE}\r\r\n",
    "c0-controls": "".join(chr(c) for c in range(1, 32)) + SENTENCE,
    "c1-controls": "".join(chr(c) for c in range(0x7F, 0xA0)) + SENTENCE,
    "nul-inside": SENTENCE.replace(" ", "\x00"),
    "zwsp-inside": SENTENCE.replace(" ", "\u200b"),
    "shy-inside-words": SENTENCE.replace("a", "a\u00ad"),
    "astral-cjk": "𠀀𠀁𠀂𪛖 " * 40,
    "long-word": "x" * 10_000,
    "long-number": "9" * 5_000,
    "html": f"<p onclick='x()'>{SENTENCE}</p><script>alert(1)</script>",
    "json-in-text": json.dumps({"text": SENTENCE, "texts": [SENTENCE]}),
    "one-letter": "a",
    "one-emoji": "💥",
    "one-combining": "\u0301",
}


def unicode_texts() -> Iterator[Case]:
    for kind, text in UNICODE.items():
        yield text_case(f"unicode/{kind}", text)
    for kind in ("arabic", "emoji-zwj", "astral-cjk", "nul-inside"):
        yield text_case(f"unicode/{kind}-ascii-escaped", UNICODE[kind], ascii_only=True)
        yield text_case(f"unicode/{kind}-adaptive", UNICODE[kind], "/tag_adaptive")


def junk(limits: Mapping[str, int]) -> Iterator[Case]:
    for kind, char in JUNK.items():
        for n in (1, 100, 10_000):
            yield text_case(f"junk/{kind}-{n}", char * n)
        yield text_case(f"junk/{kind}-escaped-1000", char * 1000, ascii_only=True)
    mixed = "".join(JUNK.values())
    yield text_case("junk/mixed-4000", mixed * 1000)
    yield text_case("junk/mixed-with-spaces", f" {mixed}\n{mixed}\t")
    yield text_case("junk/zwsp-max-chars", JUNK["zwsp"] * limits["max_chars"])
    yield Case("junk/batch-of-each", body("/tag_batch", list(JUNK.values())), "/tag_batch")


def at_limits(limits: Mapping[str, int]) -> Iterator[Case]:
    """At and one over each limit /metadata reports; what one request cannot reach
    (max_wait_s) is left to the load test."""
    chars, docs, total = limits["max_chars"], limits["max_docs"], limits["max_total_chars"]
    tokens, call = limits["max_tokens"], limits["call_tokens"]
    yield text_case(f"limit/max_chars-prose-{chars}", prose(chars))
    yield text_case(f"limit/max_chars-prose-{chars + 1}", prose(chars + 1))
    yield text_case(f"limit/max_chars-word-{chars + 1}", "x" * (chars + 1))
    for route in ROUTES[1:]:
        r = route.strip("/")
        yield Case(f"limit/{r}-max_docs-{docs}", body(route, [SENTENCE] * docs), route)
        yield Case(f"limit/{r}-max_docs-{docs + 1}", body(route, [SENTENCE] * (docs + 1)), route)
    # One-word texts of "x": a token each, so the total is reached without the token limit.
    sizes = [chars] * (total // chars) + ([total % chars] if total % chars else [])
    if len(sizes) <= docs:
        texts = ["x" * n for n in sizes]
        yield Case(f"limit/max_total_chars-{total}", body("/tag_batch", texts), "/tag_batch")
        over = body("/tag_batch", [*texts, "x"])
        if len(sizes) < docs:
            yield Case(f"limit/max_total_chars-{total + 1}", over, "/tag_batch")
    if tokens <= chars:
        yield text_case(f"limit/max_tokens-bang-{tokens}", "!" * tokens)
        yield text_case(f"limit/max_tokens-bang-{tokens + 1}", "!" * (tokens + 1))
    if call <= chars:
        yield text_case(f"limit/call_tokens-bang-{call}", "!" * call)
        yield text_case(f"limit/call_tokens-bang-{call + 1}", "!" * (call + 1))
    # The longest body a valid request can have is 12 bytes a character (serving/checks.py).
    yield Case("limit/body-over-limit", b'{"text": "' + b"a" * (12 * chars + 2048) + b'"}')


def named_long() -> Iterator[Case]:
    """The long texts of the reliability issue, as a client might send them."""
    yield text_case("long/emoji-90000", "😀" * 90_000)
    yield text_case("long/emoji-90000-escaped", "😀" * 90_000, ascii_only=True)
    yield text_case("long/bang-20000", "!" * 20_000)
    yield text_case("long/dot-200000", "." * 200_000)
    yield text_case("long/A-dot-space-66666", "A. " * 66_666)
    yield text_case("long/one-sentence-to-200000", repeated(SENTENCE, 200_000))
    yield text_case("long/prose-200000", prose(200_000))


# --- fuzz --------------------------------------------------------------------------------

# (first, last) code point ranges, surrogates left out (their JSON escapes are cases above).
ALPHABETS: Mapping[str, tuple[tuple[int, int], ...]] = {
    "ascii": ((0x20, 0x7E),),
    "latin": ((0xA0, 0x24F),),
    "greek-cyrillic": ((0x370, 0x4FF),),
    "arabic-hebrew": ((0x590, 0x6FF),),
    "indic-thai": ((0x900, 0xDFF), (0xE00, 0xE7F)),
    "cjk-hangul": ((0x4E00, 0x9FFF), (0xAC00, 0xD7A3)),
    "emoji": ((0x1F300, 0x1FAFF),),
    "combining": ((0x300, 0x36F), (0x1AB0, 0x1AFF), (0x20D0, 0x20FF)),
    "controls": ((0x0, 0x1F), (0x7F, 0x9F)),
    "format": ((0x200B, 0x200F), (0x2028, 0x202E), (0x2060, 0x2064), (0xFEFF, 0xFEFF)),
    "spaces": ((0x9, 0xD), (0x20, 0x20), (0x2000, 0x200A), (0x3000, 0x3000)),
    "private-use": ((0xE000, 0xF8FF), (0xF0000, 0xF00FF)),
    "bmp": ((0x0, 0xD7FF), (0xE000, 0xFFFF)),
    "astral": ((0x10000, 0x10FFFF),),
}


def random_text(rng: random.Random, longest: int = 5_000) -> tuple[str, str]:
    """A random text of 1 to `longest` characters (log-uniform) from one to three
    alphabets, sometimes mixed with prose words; and a name for what it is made of."""
    n = max(1, int(math.exp(rng.uniform(0, math.log(longest)))))
    kinds = rng.sample(sorted(ALPHABETS), rng.randint(1, 3))
    ranges = [r for k in kinds for r in ALPHABETS[k]]
    chars = []
    for _ in range(n):
        first, last = rng.choice(ranges)
        chars.append(chr(rng.randint(first, last)))
    if rng.random() < 0.25:
        words = prose(n, rng.randrange(50_000)).split(" ")
        chars = [c for pair in zip(words, chars, strict=False) for c in (pair[0], pair[1])]
        kinds.append("prose")
    return "".join(chars)[: max(n, 1)], "+".join(kinds)


def fuzz(rng: random.Random, n: int = 150) -> Iterator[Case]:
    for i in range(n):
        text, kinds = random_text(rng)
        route = rng.choices(ROUTES, weights=(8, 1, 1))[0]
        texts = [text] if route != "/tag_batch" else [text, random_text(rng, 200)[0]]
        data = body(route, texts, ascii_only=rng.random() < 0.5)
        yield Case(f"fuzz/{i:03d}-{route.strip('/')}-{kinds}", data, route)


def mangled(rng: random.Random, n: int = 30) -> Iterator[Case]:
    """Valid bodies with random bytes changed, dropped or cut off."""
    for i in range(n):
        data = bytearray(body("/tag", [random_text(rng, 300)[0]]))
        how = rng.choice(("flip", "drop", "cut", "insert"))
        at = rng.randrange(len(data))
        if how == "flip":
            data[at] = rng.randrange(256)
        elif how == "drop":
            del data[at]
        elif how == "cut":
            del data[at:]
        else:
            data[at:at] = rng.randbytes(rng.randint(1, 8))
        yield Case(f"mangled/{i:03d}-{how}", bytes(data))


def battery(limits: Mapping[str, int] = DEFAULT_LIMITS, seed: int = 0) -> list[Case]:
    """Every case, the long and expensive ones last; names are unique."""
    rng = random.Random(seed)
    cases = [
        *wrong_types(), *broken_bodies(rng), *surrogates(), *nesting(), *duplicate_keys(),
        *encodings(), *unicode_texts(), *junk(limits), *fuzz(rng), *mangled(rng),
        *at_limits(limits), *named_long(),
    ]  # fmt: skip
    names = [c.name for c in cases]
    if len(set(names)) != len(names):
        raise ValueError(
            f"duplicate case names: {sorted({n for n in names if names.count(n) > 1})}"
        )
    return cases


# --- what a 200 must hold ----------------------------------------------------------------


def results_of(route: str, payload: Any) -> list[dict[str, Any]]:
    """The per-text results of a 200 answer to `route`."""
    if route == "/tag":
        return [payload]
    if route == "/tag_batch":
        return list(payload["results"])
    return list(payload)


def result_problems(text: str, result: Mapping[str, Any]) -> list[str]:
    """What is wrong with one result for `text`: spans outside it or whose text is not the
    slice they point at, sentences outside it, event slots pointing at no span; and, for a
    text of junk characters only, any entity, role or event at all."""
    problems, n = [], len(text)
    for layer in ("entities", "roles"):
        for i, span in enumerate(result.get(layer, [])):
            start, end = span["start"], span["end"]
            if not (0 <= start < end <= n):
                problems.append(f"{layer}[{i}] {start}:{end} is outside 0:{n}")
            elif text[start:end] != span["text"]:
                problems.append(
                    f"{layer}[{i}] {start}:{end} is {text[start:end]!r}, not {span['text']!r}"
                )
    for i, sentence in enumerate(result.get("sentences", [])):
        if not 0 <= sentence["start"] <= sentence["end"] <= n:
            problems.append(f"sentences[{i}] {sentence['start']}:{sentence['end']} outside 0:{n}")
    for i, event in enumerate(result.get("events", [])):
        for slot in SLOTS:
            for ref in event.get(slot, []):
                spans = result.get(ref["layer"], [])
                if not 0 <= ref["index"] < len(spans) or spans[ref["index"]]["text"] != ref["text"]:
                    problems.append(f"events[{i}].{slot} points at no span: {ref}")
    if is_junk(text):
        found = {k: len(result.get(k, [])) for k in ("entities", "roles", "events")}
        if any(found.values()):
            problems.append(f"junk-only text got {found}")
    return problems


def answer_problems(case: Case, payload: Any) -> list[str]:
    """Problems of a 200 answer to `case`, every text checked."""
    texts = texts_of(case)
    if texts is None:
        return ["answered 200, but the body holds no request this benchmark can read"]
    try:
        results = results_of(case.route, payload)
    except (KeyError, TypeError) as err:
        return [f"answer is not a result: {err!r}"]
    if len(results) != len(texts):
        return [f"{len(results)} results for {len(texts)} texts"]
    return [
        p
        for text, result in zip(texts, results, strict=True)
        for p in result_problems(text, result)
    ]
