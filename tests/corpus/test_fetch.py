"""`fetch` against a real local HTTP server standing in for raw.githubusercontent.com."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from training.corpus.fetch import (
    MANIFEST,
    ChecksumError,
    FetchError,
    fetch,
    load_manifest,
    raw_url,
)

REPO = "someone/corpus"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
FILES = {  # upstream path -> content; the space checks URL quoting end to end
    "data/train.tsv": b"the army shelled the town\t1\n",
    "notes/read me.md": "caf\u00e9 \u2014 licence: research use\n".encode(),
}
LOCAL = {"data/train.tsv": "toy/train.tsv", "notes/read me.md": "toy/docs/README.md"}


@dataclass
class Mirror:
    base_url: str
    root: Path  # served folder, laid out like raw.githubusercontent.com
    requests: list[str]


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    root = tmp_path / "upstream"
    for up, content in FILES.items():
        target = root / REPO / COMMIT / up
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    requests: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self) -> None:
            requests.append(self.path)
            super().do_GET()

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Mirror(f"http://127.0.0.1:{server.server_address[1]}", root, requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _entry(up: str, sha256: str | None = None) -> dict[str, Any]:
    return {
        "path": LOCAL.get(up, f"toy/{up}"),
        "repo": REPO,
        "commit": COMMIT,
        "upstream_path": up,
        "url": raw_url(REPO, COMMIT, up),
        "sha256": sha256 or hashlib.sha256(FILES[up]).hexdigest(),
        "verified": True,
    }


def _manifest(tmp_path: Path, files: list[dict[str, Any]]) -> Path:
    doc = {"version": 1, "datasets": [{"dataset": "toy", "licence": "test", "files": files}]}
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _leftovers(dest: Path) -> list[Path]:
    return [p for p in dest.rglob("*") if p.name.endswith(".part")]


def test_fetch_downloads_and_verifies(tmp_path: Path, mirror: Mirror) -> None:
    manifest = _manifest(tmp_path, [_entry(up) for up in FILES])
    dest = tmp_path / "datasets"

    report = fetch(dest, manifest, base_url=mirror.base_url)

    assert report.downloaded == [LOCAL[up] for up in FILES]
    assert report.present == [] and report.unpinned == []
    for up, content in FILES.items():
        assert (dest / LOCAL[up]).read_bytes() == content
    assert _leftovers(dest) == []


def test_rerun_downloads_nothing(tmp_path: Path, mirror: Mirror) -> None:
    manifest = _manifest(tmp_path, [_entry(up) for up in FILES])
    dest = tmp_path / "datasets"
    fetch(dest, manifest, base_url=mirror.base_url)
    seen = len(mirror.requests)

    report = fetch(dest, manifest, base_url=mirror.base_url)

    assert report.downloaded == []
    assert sorted(report.present) == sorted(LOCAL.values())
    assert len(mirror.requests) == seen


def test_a_damaged_local_file_is_fetched_again(tmp_path: Path, mirror: Mirror) -> None:
    manifest = _manifest(tmp_path, [_entry(up) for up in FILES])
    dest = tmp_path / "datasets"
    fetch(dest, manifest, base_url=mirror.base_url)
    (dest / "toy/train.tsv").write_bytes(b"edited by hand\n")

    report = fetch(dest, manifest, base_url=mirror.base_url)

    assert report.downloaded == ["toy/train.tsv"]
    assert (dest / "toy/train.tsv").read_bytes() == FILES["data/train.tsv"]


def test_wrong_checksum_fails_clearly_and_leaves_nothing(tmp_path: Path, mirror: Mirror) -> None:
    wrong = "f" * 64
    manifest = _manifest(tmp_path, [_entry("data/train.tsv", sha256=wrong)])
    dest = tmp_path / "datasets"
    actual = hashlib.sha256(FILES["data/train.tsv"]).hexdigest()

    with pytest.raises(ChecksumError) as info:
        fetch(dest, manifest, base_url=mirror.base_url)

    message = str(info.value)
    assert "toy/train.tsv" in message and wrong in message and actual in message
    assert "mirror" in message  # says what to do
    assert not (dest / "toy/train.tsv").exists()
    assert _leftovers(dest) == []


def test_missing_upstream_file_names_the_url(tmp_path: Path, mirror: Mirror) -> None:
    gone = "data/gone.tsv"
    entry = _entry("data/train.tsv") | {
        "path": "toy/gone.tsv",
        "upstream_path": gone,
        "url": raw_url(REPO, COMMIT, gone),
    }
    manifest = _manifest(tmp_path, [entry])
    dest = tmp_path / "datasets"

    with pytest.raises(FetchError, match="HTTP 404") as info:
        fetch(dest, manifest, base_url=mirror.base_url)

    message = str(info.value)
    assert f"{mirror.base_url}/{REPO}/{COMMIT}/{gone}" in message
    assert "CONFLICT_DATA_DIR" in message
    assert not (dest / "toy/gone.tsv").exists()
    assert _leftovers(dest) == []


def test_unreachable_server_suggests_what_to_do(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, [_entry("data/train.tsv")])
    with pytest.raises(FetchError, match="CONFLICT_DATA_DIR"):
        fetch(tmp_path / "datasets", manifest, base_url="http://127.0.0.1:1", timeout=5)


def test_datasets_selects_entries(tmp_path: Path, mirror: Mirror) -> None:
    manifest = _manifest(tmp_path, [_entry(up) for up in FILES])
    with pytest.raises(ValueError, match="unknown dataset"):
        fetch(tmp_path / "datasets", manifest, base_url=mirror.base_url, datasets=["nope"])
    report = fetch(tmp_path / "datasets", manifest, base_url=mirror.base_url, datasets=["toy"])
    assert len(report.downloaded) == len(FILES)


@pytest.mark.parametrize(
    "change",
    [
        {"typo_key": 1},  # extra="forbid"
        {"url": "https://example.org/train.tsv"},  # url must match repo/commit/path
        {"path": "../outside.tsv"},  # must stay inside the data dir
        {"commit": "abc123"},  # short hashes are not pins
        # an entry without a full commit (fetched from HEAD) cannot claim to be verified
        {"commit": None, "url": raw_url(REPO, "HEAD", "data/train.tsv")},
    ],
)
def test_manifest_rejects_bad_entries(tmp_path: Path, change: dict[str, Any]) -> None:
    manifest = _manifest(tmp_path, [_entry("data/train.tsv") | change])
    with pytest.raises(ValueError):
        load_manifest(manifest)


def test_manifest_rejects_duplicate_paths(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, [_entry("data/train.tsv"), _entry("data/train.tsv")])
    with pytest.raises(ValueError, match="listed twice"):
        load_manifest(manifest)


def test_real_manifest_loads_with_unique_paths() -> None:
    entries = load_manifest(MANIFEST)
    paths = [e.path for e in entries]
    assert len(paths) == len(set(paths))
    assert all(e.note for e in entries if not e.verified), "unverified entries must say why"


@pytest.mark.slow
def test_real_manifest_matches_the_datasets_checksums(real_data: Path) -> None:
    root = real_data
    sums = {}
    for line in (root / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, path = line.split(maxsplit=1)
        sums[path.removeprefix("./")] = digest
    for local_doc in ("README.md", "SHA256SUMS"):
        sums.pop(local_doc, None)

    entries = load_manifest(MANIFEST)

    assert {e.sha256 for e in entries} == set(sums.values())
    assert {e.path: e.sha256 for e in entries} == sums


def test_cli_fetch_reports_and_fails_cleanly(tmp_path: Path, mirror: Mirror) -> None:
    from typer.testing import CliRunner

    from training.cli import app

    manifest = _manifest(tmp_path, [_entry(up) for up in FILES])
    dest = tmp_path / "datasets"
    args = ["data", "fetch", str(dest), "--manifest", str(manifest)]
    runner = CliRunner()
    result = runner.invoke(app, [*args, "--base-url", mirror.base_url])
    assert result.exit_code == 0, result.output
    assert "2 file(s) downloaded, 0 already present" in result.output
    assert f"CONFLICT_DATA_DIR={dest}" in result.output

    (dest / "toy/train.tsv").write_bytes(b"damaged")
    result = runner.invoke(app, [*args, "--base-url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "error: toy/train.tsv: could not download" in result.output
