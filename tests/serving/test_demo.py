"""`conflict-tagger demo` end to end: register, serve over HTTP, tag, print the page."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.serve import free_port


def test_demo_registers_serves_and_tags(tiny_artifact: Path, tmp_path: Path) -> None:
    artifact = tmp_path / "artifact"
    shutil.copytree(tiny_artifact, artifact)
    sample = tmp_path / "article.txt"
    sample.write_text("Rebels fired a rocket at Camp Alpha on 3 May. Police arrested 12 men.")
    env = os.environ | {"BENTOML_HOME": str(tmp_path / "bentoml"), "BENTOML_DO_NOT_TRACK": "True"}
    env.pop("CONFLICT_TAGGER_TOKEN", None)
    command = [sys.executable, "-m", "training.cli", "demo", "--artifact", str(artifact),
               "--sample", str(sample), "--port", str(free_port()), "--no-wait",
               "--log", str(tmp_path / "service.log")]  # fmt: skip
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=180)
    assert first.returncode == 0, first.stderr + (tmp_path / "service.log").read_text()
    assert "registered" in first.stdout and "promoted" in first.stdout
    assert "demo page: http://127.0.0.1:" in first.stdout
    body = first.stdout[first.stdout.index("{") : first.stdout.index("\ntagged ")]
    result = json.loads(body)
    assert result["model"]["name"] == "conflict-tagger" and len(result["sentences"]) == 2
    # A second run finds the model in the registry and registers nothing new.
    command[command.index("--port") + 1] = str(free_port())
    second = subprocess.run(command, capture_output=True, text=True, env=env, timeout=180)
    assert second.returncode == 0, second.stderr
    assert "registered" not in second.stdout and "promoted" not in second.stdout
