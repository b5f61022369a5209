"""Download the datasets from their upstream repositories, pinned and checksummed.

`data/manifest.yaml` lists every file of the datasets folder with the raw GitHub URL it comes
from and its sha256. `fetch` rebuilds that folder anywhere: each file goes to a temporary
file beside its target and is renamed into place only once its checksum matches, so an
interrupted run leaves no half-written files and a rerun resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal
from urllib.parse import quote

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from training.corpus.sources import ENV_VAR, project_root

RAW_BASE = "https://raw.githubusercontent.com"
MANIFEST = project_root() / "data" / "manifest.yaml"
_CHUNK = 1 << 20


class FetchError(RuntimeError):
    """A file could not be downloaded; the message says which, from where, and what to do."""


class ChecksumError(FetchError):
    """A downloaded file's sha256 differs from the manifest's."""


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str  # relative to the datasets folder, POSIX separators
    repo: str = Field(pattern=r"^[\w.-]+/[\w.-]+$")
    commit: str | None = Field(pattern=r"^[0-9a-f]{40}$")  # None: no full hash known, uses HEAD
    upstream_path: str
    url: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    verified: bool
    note: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> _File:
        p = PurePosixPath(self.path)
        if p.is_absolute() or ".." in p.parts or "\\" in self.path or not p.parts:
            raise ValueError(f"path {self.path!r} must be relative and stay inside the data dir")
        expected = raw_url(self.repo, self.commit or "HEAD", self.upstream_path)
        if self.url != expected:
            raise ValueError(f"{self.path}: url {self.url!r} should be {expected!r}")
        if self.commit is None and self.verified:
            raise ValueError(f"{self.path}: an entry without a full commit cannot be verified")
        return self


class Entry(_File):
    """One file: where it goes, where it comes from, its checksum and its dataset's licence."""

    dataset: str
    licence: str


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: str
    licence: str
    files: list[_File]


class _Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1]
    datasets: list[_Group]


@dataclass
class FetchReport:
    downloaded: list[str] = field(default_factory=list)  # paths fetched in this run
    present: list[str] = field(default_factory=list)  # already there with the right checksum
    unpinned: list[str] = field(default_factory=list)  # fetched from HEAD: no full commit known

    def __str__(self) -> str:
        text = f"{len(self.downloaded)} file(s) downloaded, {len(self.present)} already present"
        if self.unpinned:
            text += f"; {len(self.unpinned)} taken from the default branch (no pinned commit)"
        return text


def raw_url(repo: str, ref: str, upstream_path: str) -> str:
    return f"{RAW_BASE}/{repo}/{ref}/{quote(upstream_path, safe='/')}"


def load_manifest(path: Path) -> list[Entry]:
    """Validate the manifest; a typo'd key, a bad hash or a duplicated path fails here."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    manifest = _Manifest.model_validate(raw)
    entries: list[Entry] = []
    seen: set[str] = set()
    for group in manifest.datasets:
        for f in group.files:
            if f.path in seen:
                raise ValueError(f"{path}: {f.path} is listed twice")
            seen.add(f.path)
            entries.append(Entry(**f.model_dump(), dataset=group.dataset, licence=group.licence))
    return entries


def _select(entries: list[Entry], datasets: list[str] | None) -> list[Entry]:
    """A name picks its dataset and the ones nested under it ("re3d" -> "re3d/original", ...)."""
    if datasets is None:
        return entries
    names = [d.strip("/") for d in datasets]

    def picked(dataset: str) -> bool:
        return any(dataset == n or dataset.startswith(n + "/") for n in names)

    known = sorted({e.dataset for e in entries})
    unknown = [n for n in names if not any(k == n or k.startswith(n + "/") for k in known)]
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown}; the manifest has {known}")
    return [e for e in entries if picked(e.dataset)]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _download(entry: Entry, url: str, target: Path, timeout: float) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    hint = f" (manifest note: {entry.note})" if entry.note else ""
    try:
        h = hashlib.sha256()
        request = urllib.request.Request(url, headers={"User-Agent": "conflict-tagger data fetch"})
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as resp:
            while chunk := resp.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
        actual = h.hexdigest()
        if actual != entry.sha256:
            raise ChecksumError(
                f"{entry.path}: the file downloaded from {url} has sha256 {actual}, but the "
                f"manifest expects {entry.sha256}; the download was discarded. The upstream "
                "file may have changed or the download was altered: retry, point base_url at a "
                f"mirror holding the pinned files, or fix the manifest entry{hint}."
            )
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only
        os.replace(tmp, target)
    except urllib.error.HTTPError as err:
        err.close()  # it holds the open response; unclosed, it leaks a socket
        raise FetchError(
            f"{entry.path}: HTTP {err.code} {err.reason} for {url}. The pinned file is not "
            f"there{hint}. Use a mirror holding the pinned files (base_url), or set {ENV_VAR} to "
            "an existing copy of the datasets."
        ) from err
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError) as err:
        reason = getattr(err, "reason", err)
        raise FetchError(
            f"{entry.path}: could not download {url}: {reason}. Check the network and rerun "
            f"(files already fetched are kept), use a reachable mirror (base_url), or set "
            f"{ENV_VAR} to an existing copy of the datasets."
        ) from err
    finally:
        tmp.unlink(missing_ok=True)


def fetch(
    dest: Path,
    manifest: Path,
    *,
    base_url: str | None = None,
    datasets: list[str] | None = None,
    timeout: float = 60.0,
) -> FetchReport:
    """Download the manifest's files into `dest`, verifying each against its sha256.

    Files already present with the right checksum are left alone, so a rerun resumes.
    `base_url` replaces https://raw.githubusercontent.com (a mirror, or a test server);
    `datasets` limits the run to those datasets (a name also selects those nested under it).
    """
    entries = _select(load_manifest(manifest), datasets)
    report = FetchReport()
    for entry in entries:
        target = Path(dest) / entry.path
        if target.is_file() and _sha256(target) == entry.sha256:
            report.present.append(entry.path)
            continue
        url = entry.url
        if base_url is not None:
            url = base_url.rstrip("/") + url.removeprefix(RAW_BASE)
        _download(entry, url, target, timeout)
        report.downloaded.append(entry.path)
        if entry.commit is None:
            report.unpinned.append(entry.path)
    return report
