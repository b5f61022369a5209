"""News sentences written for this project with a CAMEO PentaClass (data/written_penta).

cameo_class trains on 2010s news only; these sentences cover other decades and styles
(see data/written_penta/README.md). Each line names the CAMEO root code of its main
event and the PentaClass that root maps to; a line whose two disagree is an error to fix
in the file, never something to skip.

`python -m training.corpus.convert_written_penta FILE...` checks files and prints counts.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from serving.schema import CameoPenta
from training.corpus import convert_written
from training.corpus.log import ConversionLog
from training.corpus.record import Coverage, LabelSet, Record, Source, Split, TaskLabels
from training.corpus.sources import project_root

DATASET = "written_penta"
COLLECTIONS = {
    "written_penta": "news sentences of many decades and styles written for this project, "
    "each with its CAMEO code and PentaClass (data/written_penta; train, dev and a "
    "hand-checked test split)",
}
# The CAMEO roots of each PentaClass, as cameo_class's training sentences use them.
ROOTS = {
    CameoPenta.NEUTRAL: ("01", "02"),
    CameoPenta.VERBAL_COOPERATION: ("03", "04", "05"),
    CameoPenta.MATERIAL_COOPERATION: ("06", "07", "08"),
    CameoPenta.VERBAL_CONFLICT: ("09", "10", "11", "12", "13", "16"),
    CameoPenta.MATERIAL_CONFLICT: ("14", "15", "17", "18", "19", "20"),
}
PENTA_OF_ROOT = {root: penta for penta, roots in ROOTS.items() for root in roots}
STYLES = {
    "wire", "headline", "local_press", "ngo_report", "press_release", "radio_transcript",
    "brief", "analyst_note",
}  # fmt: skip
FIELDS = {"id", "split", "style", "decade", "cameo", "penta", "text"}


def folder() -> Path:
    return project_root() / "data" / "written_penta"


def to_record(raw: dict[str, Any], file: str) -> Record:
    """One line as a Record; ValueError names what is wrong."""
    text = convert_written.checked_text(raw, FIELDS, STYLES)
    code = raw["cameo"]
    # A full code (e.g. "0231") names the event more exactly; its first two digits are the root.
    if not (isinstance(code, str) and code.isdigit() and 2 <= len(code) <= 4
            and code[:2] in PENTA_OF_ROOT):  # fmt: skip
        raise ValueError(f"cameo {code!r} must be a CAMEO code whose root is '01' to '20', "
                         "e.g. '16' or '0231'")  # fmt: skip
    expected = PENTA_OF_ROOT[code[:2]]
    if raw["penta"] != expected.value:
        raise ValueError(f"penta {raw['penta']!r} does not match cameo root "
                         f"{code[:2]} ({expected.value})")  # fmt: skip
    return Record(
        id=f"{DATASET}/{raw['id']}",
        collection=DATASET,
        split=Split(raw["split"]),
        text=text,
        source=Source(dataset=DATASET, file=file, upstream_id=str(raw["id"])),
        annotated=[Coverage(label_set=LabelSet.CAMEO_PENTA, labels=[c.value for c in CameoPenta])],
        tasks=TaskLabels(cameo_penta=[expected.value]),
    )


def load(path: Path) -> list[Record]:
    """Every record of one file; ValueError lists each wrong line (file:line: problem)."""
    return convert_written.load(path, to_record)


def files() -> list[Path]:
    return sorted(folder().glob("*.jsonl"))


def convert(data_dir: Path, log: ConversionLog) -> Iterator[Record]:
    """Every record of data/written_penta/*.jsonl. `data_dir` is unused: the files are ours."""
    del data_dir, log
    for path in files():
        yield from load(path)


if __name__ == "__main__":
    paths = [Path(a) for a in sys.argv[1:]] or files()
    try:
        found = [r for p in paths for r in load(p.resolve())]
    except ValueError as err:
        print(err)
        sys.exit(1)
    counts = Counter(f"{r.split.value} {r.tasks.cameo_penta[0]}" for r in found)
    print(f"{len(found)} records OK")
    print("\n".join(f"{k}: {v}" for k, v in sorted(counts.items())))
