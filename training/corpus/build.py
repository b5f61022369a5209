"""Run every converter and write the corpus as JSONL, one file per collection and split."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from training.corpus import (
    convert_cameo,
    convert_ipe,
    convert_muc4,
    convert_plover,
    convert_rare_events,
    convert_re3d,
    convert_tsv,
    convert_written,
    convert_written_joined,
    convert_written_penta,
    weak_labels,
)
from training.corpus.log import ConversionLog
from training.corpus.record import Record, Split
from training.corpus.sources import project_root

CONVERTERS: tuple[ModuleType, ...] = (
    convert_re3d,
    convert_muc4,
    convert_cameo,
    convert_plover,
    convert_tsv,
    convert_ipe,
    convert_rare_events,
    convert_written,
    convert_written_joined,
    convert_written_penta,
    weak_labels,  # last: it reads the others' dev and test texts to keep them out
)
DEFAULT_OUT = project_root() / "data" / "work" / "corpus"


def collections() -> dict[str, str]:
    """Every collection name and its description, in converter order."""
    out: dict[str, str] = {}
    for module in CONVERTERS:
        out.update(module.COLLECTIONS)
    return out


@dataclass
class Corpus:
    records: list[Record]
    log: ConversionLog = field(default_factory=ConversionLog)

    def by_collection(self) -> dict[str, list[Record]]:
        out: dict[str, list[Record]] = {name: [] for name in collections()}
        for r in self.records:
            out[r.collection].append(r)
        return out


def convert_all(data_dir: Path, only: Iterable[str] | None = None) -> Corpus:
    """Convert every dataset (or the collections named in `only`) into records."""
    wanted = set(only) if only else None
    known = collections()
    if wanted and wanted - known.keys():
        raise ValueError(
            f"unknown collection(s) {sorted(wanted - known.keys())}; known: {sorted(known)}"
        )
    log = ConversionLog()
    records: list[Record] = []
    seen: set[str] = set()
    for module in CONVERTERS:
        if wanted and not wanted & module.COLLECTIONS.keys():
            continue
        for record in module.convert(data_dir, log):
            if wanted and record.collection not in wanted:
                continue
            if record.id in seen:
                raise ValueError(f"two records share the id {record.id!r}: a converter bug")
            seen.add(record.id)
            records.append(record)
    return Corpus(records, log)


def write_jsonl(records: Iterable[Record], path: Path) -> str:
    """Write records atomically; returns the sha256 of the file (the data fingerprint)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    digest = hashlib.sha256()
    with tmp.open("w", encoding="utf-8") as f:
        for r in records:
            line = r.model_dump_json() + "\n"
            digest.update(line.encode())
            f.write(line)
    tmp.replace(path)
    return digest.hexdigest()


def write_corpus(corpus: Corpus, out_dir: Path) -> dict[str, Any]:
    """`<out>/<collection>/<split>.jsonl` plus `<out>/index.json` with counts and hashes."""
    index: dict[str, Any] = {}
    for name, records in corpus.by_collection().items():
        if not records:
            continue
        splits = {}
        for split in Split:
            part = [r for r in records if r.split is split]
            sha = write_jsonl(part, out_dir / name / f"{split.value}.jsonl")
            splits[split.value] = {"records": len(part), "sha256": sha}
        index[name] = {"description": collections()[name], "splits": splits}
    (out_dir / "index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    return index
