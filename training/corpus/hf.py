"""The corpus as Hugging Face `datasets` (Arrow, cached and fingerprinted by file hash).

Features are declared, not inferred, so every collection has the same columns and
collections can be concatenated for multi-task training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from training.corpus.record import Split


def features() -> Any:
    """The Arrow schema of a Record (kept beside record.py's model; a test compares them)."""
    from datasets import Features, List, Value

    s, i, b = Value("string"), Value("int32"), Value("bool")
    tasks = {
        "cameo_penta": List(s),
        "satp": List(s),
        "ipe": List(s),
        "insightcrime": List(s),
        "muc4_incident": List(s),
    }
    return Features(
        {
            "id": s,
            "collection": s,
            "split": s,
            "text": s,
            "source": {"dataset": s, "file": s, "upstream_id": s, "lowercased": b},
            "annotated": List({"label_set": s, "labels": List(s), "exhaustive": b}),
            "spans": List({"start": i, "end": i, "entity": s, "role": s}),
            "events": List(s),
            "coarse": List(s),
            "tasks": tasks,
            "sentences": List(
                {"start": i, "end": i, "events": List(s), "coarse": List(s), "tasks": tasks}
            ),
            "templates": List(
                {
                    "incident_type": s,
                    "incidents": List(s),
                    "events": List(s),
                    "fillers": List(
                        {"role": s, "mentions": List({"text": s, "start": i, "end": i})}
                    ),
                }
            ),
        }
    )


def load_collection(corpus_dir: Path, name: str, cache_dir: Path | None = None) -> Any:
    """A `DatasetDict` (train/dev/test) of one built collection.

    Arrow files are cached under `cache_dir` (default: `<corpus_dir>/.hf_cache`) and reused
    while the JSONL files are unchanged.
    """
    from datasets import Dataset, DatasetDict, load_dataset

    folder = corpus_dir / name
    files = {s.value: folder / f"{s.value}.jsonl" for s in Split}
    missing = [f for f in files.values() if not f.exists()]
    if missing:
        raise FileNotFoundError(
            f"collection {name!r} is not built ({missing[0]} is missing): "
            "run `conflict-tagger data build` first"
        )
    # The json builder refuses empty files, and a collection may lack a split (PLOVER
    # has no train side): those become empty datasets with the same features.
    filled = {k: str(f) for k, f in files.items() if f.stat().st_size > 0}
    out = DatasetDict()
    if filled:
        out = load_dataset(
            "json",
            data_files=filled,
            features=features(),
            cache_dir=str(cache_dir or corpus_dir / ".hf_cache"),
        )
    for split in files:
        if split not in filled:
            out[split] = Dataset.from_dict({k: [] for k in features()}, features=features())
    return DatasetDict({s.value: out[s.value] for s in Split})
