"""Fixtures for the HTTP service: a copy of the tiny artifact, an isolated BentoML home, the
service module imported for a chosen model, and a real `bentoml serve` subprocess."""

from __future__ import annotations

import importlib.util
import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pytest

from benchmarks.serve import descendants, free_port

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 30.0
# Settings a subprocess must not inherit from the test process (in-process tests set some).
OUR_ENV = ("CONFLICT_TAGGER_", "BENTOML_", "PROMETHEUS_MULTIPROC_DIR")


@pytest.fixture(scope="module")
def artifact(tiny_artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the tiny artifact (the session one must stay untouched)."""
    target = tmp_path_factory.mktemp("served") / "artifact"
    shutil.copytree(tiny_artifact, target)
    return target


@contextmanager
def isolated_home(root: Path) -> Iterator[Path]:
    """A fresh BentoML home for this process. BentoML caches its home and its model store
    on first use, so patch both providers (the registry derives its paths from the home)."""
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml._internal.models import ModelStore

    (root / "models").mkdir(parents=True, exist_ok=True)
    with (
        BentoMLContainer.bentoml_home.patch(str(root)),
        BentoMLContainer.model_store.patch(ModelStore(root / "models")),
    ):
        yield root


_loaded = itertools.count()


def import_service(mp: pytest.MonkeyPatch, model: str | None) -> ModuleType:
    """A fresh copy of serving.service, imported with CONFLICT_TAGGER_MODEL set to `model`
    (None: unset, so the production alias), as `bentoml serve` and `bentoml build` import
    it. Each copy is a module of its own, so tests never reload the real one."""
    if model is None:
        mp.delenv("CONFLICT_TAGGER_MODEL", raising=False)
    else:
        mp.setenv("CONFLICT_TAGGER_MODEL", model)
    name = f"serving._service_under_test_{next(_loaded)}"
    spec = importlib.util.spec_from_file_location(name, REPO / "serving" / "service.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # BentoML and pydantic resolve the module's annotations through sys.modules.
    mp.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


# --- a real server -------------------------------------------------------------------


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    ready_after: float = 0.0
    pids: list[int] = field(default_factory=list)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self) -> None:
        started = time.monotonic()
        while time.monotonic() - started < READY_TIMEOUT:
            if self.process.poll() is not None:
                pytest.fail(f"bentoml serve exited with {self.process.returncode}:\n"
                            f"{self.log_tail()}")  # fmt: skip
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as r:
                    if r.status == 200:
                        self.ready_after = time.monotonic() - started
                        self.pids = [self.process.pid, *descendants(self.process.pid)]
                        return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"bentoml serve not ready after {READY_TIMEOUT}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, as a process manager would; returns the exit code. Anything still alive
        after `timeout` is killed by id and reported by the caller's checks."""
        if self.process.poll() is None:
            self.pids = sorted({*self.pids, self.process.pid, *descendants(self.process.pid)})
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        deadline = time.monotonic() + timeout
        while any(alive(p) for p in self.pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in self.pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        return self.process.returncode


@contextmanager
def serve(
    root: Path, env_vars: dict[str, str], target: str = "serving.service:ConflictTagger"
) -> Iterator[Server]:
    """`bentoml serve TARGET` (the service in this checkout, or a bento tag) on a free
    localhost port with our environment variables replaced by `env_vars`, one ONNX Runtime
    thread and no tracking; the log goes to root/serve.log. Stopped, with every child
    process, on exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OUR_ENV)}
    env |= {"CONFLICT_TAGGER_THREADS": "1", "BENTOML_DO_NOT_TRACK": "True"} | env_vars
    port = free_port()
    log = root / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bentoml", "serve", target,
             "--host", "127.0.0.1", "--port", str(port)],
            # A bento runs its own copy of the code, not this checkout's.
            cwd=REPO if target.startswith("serving.") else root,
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    running = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def server(artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real server of a copy of the tiny artifact, with a temporary BentoML home and no
    token."""
    root = tmp_path_factory.mktemp("bentoml-serve")
    env = {"CONFLICT_TAGGER_MODEL": str(artifact), "BENTOML_HOME": str(root / "home")}
    with serve(root, env) as running:
        yield running
