"""CSV rows with Python's csv module, each knowing its physical lines; a bad row costs
only itself.

Not pyarrow's CSV reader (used before): one cell of invalid UTF-8 failed its whole block,
a quoted cell longer than a block (1 MiB) failed the file, and a quote that is never
closed turned the rest of the file into one row (a "good" one when it opened in the last
column). Parsing costs microseconds a row, against milliseconds of tagging.
"""

from __future__ import annotations

import csv
import re
from collections import deque
from collections.abc import Iterator
from typing import Any, NamedTuple

from serving.labeling.job import LabelingError

READ_BYTES = 1 << 20
# Characters in one cell, at most: a quote that is never closed would otherwise hold the
# rest of a large file in one cell. Far above any text worth tagging (max_chars).
FIELD_LIMIT = 1 << 24
# Fed after the last line. Decoding never makes it (surrogateescape makes \udc80-\udcff
# only), so a row that ends with it ran into the end of the file inside a quote.
END = "\udfff"
_BREAK = re.compile(r"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


class Line(NamedTuple):
    number: int  # 1-based physical line
    end: int  # byte offset just after it
    bad_byte: int | None  # position of its first byte that is not UTF-8


class CsvRow(NamedTuple):
    first: int  # the physical line it starts on
    last: Line  # the line it ends on
    cells: list[str] | None  # None: not a row, see problem
    problem: str | None


def csv_rows(f: Any, name: str, line: int = 0, offset: int = 0) -> Iterator[CsvRow]:
    """The rows of the binary stream `f` (header included), which is at byte `offset`,
    just after physical line `line`. Blank lines are skipped."""
    if csv.field_size_limit() < FIELD_LIMIT:  # process-wide: raise it, never lower it
        csv.field_size_limit(FIELD_LIMIT)
    feed = _Feed(_lines(f, line, offset))
    reader = csv.reader(feed)
    while True:
        feed.row.clear()
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as err:  # a cell over the limit: most likely a quote never closed
            first, last = feed.row[0][0], feed.row[-1][0]
            yield CsvRow(first.number, first, None, _too_long(name, first, last, err))
            feed.again(feed.row[1:])
            continue
        if not cells:
            continue
        if cells[-1].endswith(END):
            if cells == [END]:
                return
            yield _unclosed(feed, cells[-1], name)
            continue
        first, last = feed.row[0][0], feed.row[-1][0]
        bad = next((ln for ln, _ in feed.row if ln.bad_byte is not None), None)
        problem = None if bad is None else _not_utf8(name, bad)
        yield CsvRow(first.number, last, cells, problem)


def header_names(row: CsvRow | None, where: str) -> list[str]:
    """The column names from a file's first row, or why it has none."""
    if row is None:
        raise LabelingError(f"{where} is empty: a CSV file needs a header row")
    if row.cells is None or row.problem:
        raise LabelingError(f"the header row of {where} cannot be read: {row.problem}")
    names = row.cells
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise LabelingError(f"{where} repeats the column(s) {', '.join(repeated)}")
    return names


def malformed(row: CsvRow, columns: int) -> str:
    assert row.cells is not None
    if row.first == row.last.number:
        lines = f"line {row.first}"
    else:
        lines = f"lines {row.first}-{row.last.number}"
    return f"malformed CSV row ({lines}): {len(row.cells)} cells, {columns} columns"


class _Feed:
    """Lines for csv.reader, keeping those of the row being read, so that what follows an
    unclosed quote can be read again as rows."""

    def __init__(self, source: Iterator[tuple[Line, str]]) -> None:
        self.source = source
        self.replay: deque[tuple[Line, str]] = deque()
        self.row: list[tuple[Line, str]] = []
        self.ended = False

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        item = self.replay.popleft() if self.replay else next(self.source, None)
        if item is None:
            if self.ended:
                raise StopIteration
            self.ended = True
            return END
        self.row.append(item)
        return item[1]

    def again(self, lines: list[tuple[Line, str]]) -> None:
        self.replay.extendleft(reversed(lines))
        self.ended = False


def _unclosed(feed: _Feed, cell: str, name: str) -> CsvRow:
    """The row that ran into the end of the file: reported from its first line to the
    line its last quote opened on; the lines after that are read again."""
    lines = [ln for ln, _ in feed.row]
    last, text = feed.row[-1]
    breaks = len(_BREAK.findall(cell))  # the cell runs from its quote to the end
    opened = last.number - breaks + text.endswith(("\n", "\r"))
    upto = next((ln for ln in lines if ln.number == opened), lines[0])
    opened = upto.number
    feed.again([item for item in feed.row if item[0].number > opened])
    why = (
        f"a quote opened on line {opened} of {name} is never closed, so the row from line "
        f"{lines[0].number} has no end; it is skipped and the lines after line {opened} are "
        'read again as rows. Close the quote (or double it: "") and label the file again'
    )
    return CsvRow(lines[0].number, upto, None, why)


def _too_long(name: str, first: Line, last: Line, err: csv.Error) -> str:
    return (
        f"the row from line {first.number} of {name} has a cell over {csv.field_size_limit()} "
        f"characters ({err}; read up to line {last.number}), most likely a quote that is never "
        f"closed: it is skipped and the lines after line {first.number} are read again as "
        "rows. Close the quote (or double it) and label the file again"
    )


def _not_utf8(name: str, line: Line) -> str:
    return (
        f"invalid UTF-8 on line {line.number} of {name} (byte {(line.bad_byte or 0) + 1} of "
        "the line): save the file as UTF-8, or fix or drop this row"
    )


def _lines(f: Any, line: int, offset: int) -> Iterator[tuple[Line, str]]:
    """Physical lines (ended by \\n, \\r\\n or \\r, as csv and pyarrow read them), decoded;
    bytes that are not UTF-8 kept as surrogates and their position noted."""
    parts: list[bytes] = []
    while True:
        chunk = f.read(READ_BYTES)
        if chunk and b"\n" not in chunk and b"\r" not in chunk:
            parts.append(chunk)  # within one long line
            continue
        pieces = b"".join([*parts, chunk]).splitlines(keepends=True)
        # The last piece may go on in the next chunk (even a \r may be half of a \r\n).
        parts = [pieces.pop()] if chunk and pieces else []
        for raw in pieces:
            start, line, offset = offset, line + 1, offset + len(raw)
            if start == 0 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            try:
                yield Line(line, offset, None), raw.decode("utf-8")
            except UnicodeDecodeError as err:
                yield Line(line, offset, err.start), raw.decode("utf-8", "surrogateescape")
        if not chunk:
            return
