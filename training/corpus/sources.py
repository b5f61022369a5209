"""Where the datasets are, and the converter registry."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from training.corpus.log import ConversionLog
from training.corpus.record import Record

ENV_VAR = "CONFLICT_DATA_DIR"
_SOURCE_TREE = Path(__file__).resolve().parents[2]


def project_root() -> Path:
    """The source checkout this code runs from, else the working directory (an installed
    package has no checkout, and its site-packages is no place for data)."""
    if (_SOURCE_TREE / "pyproject.toml").is_file():
        return _SOURCE_TREE
    return Path.cwd()


def data_dir(explicit: Path | str | None = None) -> Path:
    """The datasets folder: explicit > $CONFLICT_DATA_DIR > ../shared/datasets beside the repo."""
    if explicit is not None:
        path = Path(explicit)
    elif os.environ.get(ENV_VAR):
        path = Path(os.environ[ENV_VAR])
    else:
        path = project_root().parent / "shared" / "datasets"
        if not path.is_dir():
            raise FileNotFoundError(
                f"no data directory: set {ENV_VAR} to the folder holding the datasets, "
                "or run `conflict-tagger data fetch` to download them"
            )
    if not path.is_dir():
        raise FileNotFoundError(f"data directory {path} does not exist; check {ENV_VAR}")
    return path


class Converter(Protocol):
    """A converter module: `COLLECTIONS` (name -> description) and `convert`."""

    COLLECTIONS: dict[str, str]

    def convert(self, data_dir: Path, log: ConversionLog) -> Iterator[Record]: ...


ConvertFn = Callable[[Path, ConversionLog], Iterator[Record]]
