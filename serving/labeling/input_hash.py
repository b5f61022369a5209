"""Proof that a resumed run reads the input the earlier run labeled: a sha256 of the
input's first N bytes, N covering every committed record (decompressed bytes for .gz).

Why every byte of the committed prefix, and not sampled blocks or the mtime: a sample
misses most one-byte edits and an mtime can be set back; and only that prefix must match
(the rest is still to be read). Why not a second pass over the file: each commit hashes
only the bytes the reader has just read (from the page cache), and a resume hashes the
committed prefix once, which it does not otherwise read.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from bisect import bisect_left
from pathlib import Path
from typing import Any

from serving.labeling import arrow
from serving.labeling.readers import Cursor

READ_BYTES = 1 << 20


class PrefixHash:
    def __init__(self, path: Path, kind: str) -> None:
        self.gz = path.name.lower().endswith(".gz")
        # Held open across commits, closed by close().
        self.file = gzip.open(path, "rb") if self.gz else path.open("rb")  # noqa: SIM115
        self.sha = hashlib.sha256()
        self.size = 0  # bytes hashed
        self.ends: list[int] = []  # Parquet: rows before each row group's end
        self.offsets: list[int] = []  # and the byte it ends at
        if kind == "parquet":
            self._row_groups(path)

    def extent(self, cursor: Cursor) -> int:
        """The bytes that hold the records up to `cursor`."""
        if not self.ends:
            return cursor.offset
        if cursor.records == 0:
            return 0
        group = bisect_left(self.ends, cursor.records)
        return self.offsets[min(group, len(self.offsets) - 1)]

    def advance(self, to: int) -> tuple[int, str]:
        """Hash up to byte `to` (at most to the end); (bytes hashed, sha256 hex)."""
        while self.size < to:
            try:
                chunk = self.file.read(min(READ_BYTES, to - self.size))
            except (EOFError, gzip.BadGzipFile, zlib.error):
                break  # a damaged .gz tail: the records end before it anyway
            if not chunk:
                break
            self.sha.update(chunk)
            self.size += len(chunk)
        return self.size, self.sha.hexdigest()

    def close(self) -> None:
        self.file.close()

    def _row_groups(self, path: Path) -> None:
        meta: Any = arrow.parquet().ParquetFile(path).metadata
        rows = 0
        for i in range(meta.num_row_groups):
            group = meta.row_group(i)
            rows += group.num_rows
            end = 0
            for j in range(group.num_columns):
                col = group.column(j)
                first = col.data_page_offset
                if col.has_dictionary_page and col.dictionary_page_offset:
                    first = min(first, col.dictionary_page_offset)
                end = max(end, first + col.total_compressed_size)
            self.ends.append(rows)
            self.offsets.append(end)
