"""Durable writes: a crash must leave either the last commit or the next, never half."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

from serving.labeling.job import LabelingError


def fsync_path(path: Path) -> None:
    """fsync a file or folder by path (a folder, so a rename in it survives a crash)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise LabelingError(f"{path} is damaged ({err}); delete it to start over") from None
    if not isinstance(data, dict):
        raise LabelingError(f"{path} is damaged (not a JSON object); delete it to start over")
    return data


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically: write aside, fsync, rename over."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=1) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


class AppendFile:
    """A file appended to and committed (fsync'd) in steps; reopened at the last commit."""

    def __init__(self, path: Path, size: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        actual = path.stat().st_size
        if actual < size:
            raise LabelingError(
                f"{path} holds {actual} bytes but the checkpoint recorded {size}: it was "
                "changed outside this run; delete the output, its errors file and its "
                ".progress.json to start over"
            )
        os.truncate(path, size)  # drop what was written after the last commit
        self.file: IO[bytes] = path.open("ab")

    def write(self, data: bytes) -> None:
        self.file.write(data)

    def commit(self) -> int:
        self.file.flush()
        os.fsync(self.file.fileno())
        return self.file.tell()

    def close(self) -> None:
        self.file.close()
