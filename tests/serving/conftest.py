"""Fixtures for the HTTP service: a copy of the tiny artifact, an isolated BentoML home, the
service module imported for a chosen model, and a real `bentoml serve` subprocess."""

from __future__ import annotations

import importlib.util
import itertools
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest

from benchmarks.serve import SERVICE, Served, launch

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 30.0


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

Server = Served  # a running `bentoml serve`


@contextmanager
def serve(root: Path, env_vars: dict[str, str], target: str = SERVICE) -> Iterator[Server]:
    """`bentoml serve TARGET` (the service in this checkout, or a bento tag) on a free
    localhost port with `env_vars` as our settings, one ONNX Runtime thread and no tracking;
    the log goes to root/serve.log. Stopped, with every child process, on exit."""
    env = {"CONFLICT_TAGGER_THREADS": "1"} | env_vars
    with launch(env, root / "serve.log", target, ready_timeout=READY_TIMEOUT) as running:
        yield running


@pytest.fixture(scope="module")
def server(artifact: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real server of a copy of the tiny artifact, with a temporary BentoML home and no
    token."""
    root = tmp_path_factory.mktemp("bentoml-serve")
    env = {"CONFLICT_TAGGER_MODEL": str(artifact), "BENTOML_HOME": str(root / "home")}
    with serve(root, env) as running:
        yield running
