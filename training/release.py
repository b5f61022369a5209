"""`conflict-tagger release`: an exported artifact becomes the model shipped in models/.

The repository holds one release artifact at a time, `models/conflict-tagger-VERSION/`,
so that a fresh clone serves a trained model without torch and without training. A
release adds to the artifact's manifest (sealed again, so `verify` still checks every
field) its test figures on the published splits, the changelog (carried over from the
release it replaces) and the command that rebuilds it; the model card shows them. Every
file must stay under 100 MB (export with `--weights fp16` to halve the graph).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from serving.artifact import GRAPHS, INTEGRITY, MANIFEST, SHIPPED_PREFIX, verify, write_manifest
from training.benchmark import ROWS, Scores, leaking, trained_on
from training.corpus.sources import project_root

MAX_FILE_BYTES = 100 * 1000 * 1000
REBUILD = "make model"


class ReleaseError(ValueError):
    """An artifact that cannot be shipped; the message says what to do."""


def models_dir() -> Path:
    return project_root() / "models"


def test_table(model_dir: Path, scores: Scores) -> list[dict[str, str]]:
    """The accuracy rows this model has figures for, as the card and manifest list them."""
    own, skip = set(trained_on(model_dir)), leaking(trained_on(model_dir))
    rows = []
    for row in ROWS:
        value = scores.get(row.split, {}).get(row.collection, {}).get(row.metric)
        if row.collection in own and row.collection not in skip and value is not None:
            rows.append({"task": row.task.strip(), "split": row.split, "metric": row.label,
                         "value": f"{100 * value:.1f}", "reference": row.reference})  # fmt: skip
    return rows


def release(
    artifact_dir: Path, test_figures: list[dict[str, str]], changelog: str,
    out_dir: Path | None = None, log: Callable[[str], None] = print,
) -> Path:  # fmt: skip
    """Copy the artifact into `out_dir` (models/) as the one release, replacing the
    previous one; returns the new folder."""
    from training.model_card import model_card

    artifact = verify(artifact_dir)
    out_dir = out_dir or models_dir()
    manifest: dict[str, Any] = {k: v for k, v in artifact.manifest.items() if k != INTEGRITY}
    if "int8" in manifest.get("graphs", {}) and not artifact.int8_accepted:
        # Never served, and 60 MB in git: the verdict stays in the manifest and the card.
        manifest["graphs"] = {k: v for k, v in manifest["graphs"].items() if k != "int8"}
        manifest["files"] = {k: v for k, v in manifest["files"].items() if k != GRAPHS["int8"]}
        log(f"left out {GRAPHS['int8']}: int8 was rejected at export, serving runs fp32")
    too_big = [
        f"{name} ({(artifact.path / name).stat().st_size / 1e6:.0f} MB)"
        for name in manifest["files"]
        if (artifact.path / name).stat().st_size >= MAX_FILE_BYTES
    ]
    if too_big:
        raise ReleaseError(
            f"{', '.join(too_big)} of {artifact_dir} reach 100 MB, too large for the "
            "repository: export with `--weights fp16 --no-int8`"
        )
    if not changelog.strip():
        raise ReleaseError("a release needs a changelog line (--changelog): what changed")
    previous = sorted(p for p in out_dir.glob(f"{SHIPPED_PREFIX}*") if p.is_dir())
    history: list[dict[str, str]] = []
    for old in previous:
        if (old / MANIFEST).is_file():
            old_manifest = json.loads((old / MANIFEST).read_text(encoding="utf-8"))
            history += old_manifest.get("release", {}).get("changelog", [])
    released = time.strftime("%Y-%m-%d", time.gmtime())
    manifest["release"] = {
        "released": released,
        "rebuild": REBUILD,
        "test": test_figures,
        "changelog": [{"version": artifact.version, "date": released, "change": changelog},
                      *(h for h in history if h.get("version") != artifact.version)],
    }  # fmt: skip
    target = out_dir / f"{SHIPPED_PREFIX}{artifact.version}"
    staging = out_dir / f".{target.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for name in manifest["files"]:
            shutil.copyfile(artifact.path / name, staging / name)
        (staging / "README.md").write_text(model_card(manifest), encoding="utf-8")
        write_manifest(staging, manifest, list(manifest["files"]))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for old in previous:
        shutil.rmtree(old)
        log(f"removed the previous release {old}")
    staging.rename(target)
    log(f"released {artifact.version} as {target}")
    return target
