"""One labeler per output: `<OUT>.lock`, held with flock for the whole run.

flock rather than a pid file: the kernel drops the lock when its holder dies, even by
SIGKILL, so a crashed run never blocks the next one. The pid inside is for the message.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from serving.labeling.job import LabelingError


def lock_path(output: Path) -> Path:
    return output.with_name(output.name + ".lock")


@contextmanager
def output_lock(output: Path) -> Iterator[Path]:
    """Hold `<output>.lock` while the block runs; refuse if another process holds it."""
    path = lock_path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire(path, output)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        path.unlink(missing_ok=True)  # before unlocking: see _acquire
        os.close(fd)


def _acquire(path: Path, output: Path) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by children
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _pid(fd)
            os.close(fd)
            raise LabelingError(
                f"another labeler ({holder}) is writing {output}: it holds {path}. Wait for "
                "it to finish or stop it (an interrupted run resumes when rerun), or choose "
                "another output"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        # A holder that just finished removes the file before unlocking: if it did after we
        # opened it, our lock is on a file no one else will open; take the one there now.
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        text = ""
    return f"pid {text}" if text.isdigit() else "pid unknown"
