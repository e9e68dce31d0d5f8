"""The wheel ships exactly the two packages, with the entry points and a light base install."""

from __future__ import annotations

import email.parser
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = {"torch", "transformers", "peft", "datasets", "gguf", "nltk"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (path,) = out.glob("storyloom-*.whl")
    with zipfile.ZipFile(path) as zf:
        yield zf


def source_files() -> set[str]:
    """The package files a checkout holds, tracked or new, minus what .gitignore excludes."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout to tell source files from local ones")
    listing = subprocess.run(
        [
            "git",
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "--deduplicate",
            "desktop/storyloom",
            "pipeline/storyloom_pipeline",
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    roots = ("desktop/", "pipeline/")
    return {
        f.removeprefix(next(r for r in roots if f.startswith(r)))
        for f in listing
        if f and (REPO / f).is_file()
    }


def test_wheel_holds_exactly_the_app_and_pipeline_sources(wheel: zipfile.ZipFile) -> None:
    members = {n for n in wheel.namelist() if ".dist-info/" not in n}
    assert "storyloom/__init__.py" in members
    assert "storyloom/prompting/format.py" in members
    assert "storyloom/gui/main_window.py" in members
    assert "storyloom_pipeline/cli.py" in members
    assert members == source_files()


def test_wheel_leaves_out_tests_and_local_files(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    assert not [n for n in names if n.startswith(("tests/", ".venv/", "desktop/", "pipeline/"))]
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".gguf"))]
    assert {n.split("/")[0] for n in names} == {
        "storyloom",
        "storyloom_pipeline",
        next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA")),
    }


def test_wheel_entry_points(wheel: zipfile.ZipFile) -> None:
    (ep,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(ep).decode()
    assert "[gui_scripts]\nstoryloom = storyloom.__main__:main" in text
    assert "[console_scripts]\nstoryloom-pipeline = storyloom_pipeline.cli:main" in text


def test_base_install_pulls_no_ml_libraries(wheel: zipfile.ZipFile) -> None:
    (meta,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    metadata = email.parser.Parser().parsestr(wheel.read(meta).decode())
    requires = metadata.get_all("Requires-Dist") or []
    base = {
        r.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip().lower()
        for r in requires
        if "extra ==" not in r
    }
    assert base == {"pyside6-essentials", "qasync", "ollama", "platformdirs"}
    assert not base & HEAVY
    pipeline = {
        r.split(">")[0].split("<")[0].split("=")[0].strip().lower()
        for r in requires
        if "extra == 'pipeline'" in r or 'extra == "pipeline"' in r
    }
    assert HEAVY <= pipeline
    assert metadata["Requires-Python"] == ">=3.11"
