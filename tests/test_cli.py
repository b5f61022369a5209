import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from training.cli import app
from training.corpus.build import collections

runner = CliRunner()


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; from training.cli import app; "
        "heavy = [m for m in ('torch', 'transformers', 'datasets') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_serving_never_imports_training_libraries() -> None:
    code = (
        "import sys, pkgutil, importlib, serving; "
        "[importlib.import_module('serving.' + m.name) "
        "for m in pkgutil.iter_modules(serving.__path__)]; "
        "print([m for m in sys.modules "
        "if m.split('.')[0] in ('torch', 'transformers', 'datasets', 'training')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_data_build_and_report(tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    result = runner.invoke(app, ["data", "build", "--data-dir", str(tiny_data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"records in {len(collections())} collections" in result.output
    assert (out / "satp" / "train.jsonl").exists()
    assert (out / ".hf_cache").is_dir()

    doc = tmp_path / "README.md"
    doc.write_text("intro\n<!-- report:start -->\nSTALE\n<!-- report:end -->\nend\n")
    result = runner.invoke(
        app, ["data", "report", "--data-dir", str(tiny_data), "--write", str(doc)]
    )
    assert result.exit_code == 0, result.output
    text = doc.read_text()
    assert text.startswith("intro\n<!-- report:start -->\n## Data report")
    assert "STALE" not in text and text.endswith("<!-- report:end -->\nend\n")


def test_missing_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "build", "--data-dir", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_validate_reports_bad_records(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a"}\n')
    result = runner.invoke(app, ["data", "validate", str(path)])
    assert result.exit_code == 1
    assert f"{path}:1 (record 'a')" in result.output
    assert "1 problem(s) found" in result.output
