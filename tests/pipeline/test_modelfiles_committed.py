"""The committed modelfiles/ are exactly what the recipes and storyloom.prompting make (CI runs
this: a stale Modelfile fails the build), and say what they were made from."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from storyloom import prompting
from storyloom_pipeline import cli
from storyloom_pipeline.modelfile import (
    CHATML_TEMPLATE,
    ModelfileError,
    parse,
    render_modelfile,
    write_modelfiles,
)
from storyloom_pipeline.recipe import load_recipe


def test_committed_modelfiles_are_current(repo_root: Path) -> None:
    report = write_modelfiles(root=repo_root, check=True)
    assert not report.problems, (
        "modelfiles/ is stale: run `storyloom-pipeline modelfile` and commit the result\n"
        + "\n".join(report.problems)
    )
    recipes = list((repo_root / "pipeline" / "recipes").glob("*.yaml"))
    assert len(report.unchanged) >= len(recipes)


def test_the_7b_modelfiles(repo_root: Path) -> None:
    merged = parse((repo_root / "modelfiles" / "cra-v1-7b.Modelfile").read_text("utf-8"))
    assert merged.from_ == "../runs/cra-v1-7b/gguf/cra-v1-7b-F16.gguf"
    assert merged.adapter is None
    assert merged.template == CHATML_TEMPLATE
    assert merged.system == prompting.SYSTEM_PROMPT
    assert merged.parameter_dict() == {
        "num_ctx": 8192,
        "stop": list(prompting.STOP_STRINGS),
        "temperature": 0.7,
        "top_p": 0.8,
        "repeat_penalty": 1.07,
    }
    assert merged.licenses[0].startswith("apache-2.0\n")
    assert merged.header_field("Prompt format") == prompting.PROMPT_FORMAT_VERSION
    assert merged.header_field("Base model") == "Qwen/Qwen2.5-7B-Instruct"
    assert "--name molbal/cra-v1-7b --quantize q4_K_M" in str(merged.header_field("Publish"))

    adapter = parse((repo_root / "modelfiles" / "cra-v1-7b-adapter.Modelfile").read_text("utf-8"))
    assert (adapter.from_, adapter.adapter) == (
        "qwen2.5:7b-instruct",
        "../runs/cra-v1-7b/gguf/cra-v1-7b-adapter.gguf",
    )
    assert adapter.template == CHATML_TEMPLATE
    assert "--name molbal/cra-v1-7b:lora --push" in str(adapter.header_field("Publish"))


def test_paths_are_written_relative_to_the_modelfile(repo_root: Path, tmp_path: Path) -> None:
    recipe = load_recipe(repo_root / "pipeline" / "recipes" / "smoke-smollm2-cpu.yaml")
    text = render_modelfile(
        recipe, model=tmp_path / "export" / "merged-f16.gguf", relative_to=tmp_path / "models"
    )
    assert "\nFROM ../export/merged-f16.gguf\n" in text
    assert parse(text).parameter_dict()["num_ctx"] == 2048


@pytest.fixture
def checkout(repo_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the recipes and Modelfiles, as the current directory."""
    shutil.copytree(repo_root / "pipeline" / "recipes", tmp_path / "pipeline" / "recipes")
    shutil.copytree(repo_root / "modelfiles", tmp_path / "modelfiles")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_check_names_stale_missing_and_orphaned_modelfiles(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = checkout / "modelfiles"
    stale = folder / "cra-v1-7b.Modelfile"
    stale.write_text(stale.read_text("utf-8").replace("num_ctx 8192", "num_ctx 4096"), "utf-8")
    (folder / "cra-v1-32b.Modelfile").unlink()
    (folder / "old.Modelfile").write_text("FROM x\n", "utf-8")

    assert cli.main(["modelfile", "--check"]) == 1
    errors = capsys.readouterr().err
    assert "cra-v1-7b.Modelfile: stale" in errors
    assert "cra-v1-32b.Modelfile: missing" in errors
    assert "old.Modelfile: made by no recipe" in errors
    assert "num_ctx 4096" in stale.read_text("utf-8")  # --check writes nothing

    assert cli.main(["modelfile"]) == 0
    assert "num_ctx 8192" in stale.read_text("utf-8")
    (folder / "old.Modelfile").unlink()
    assert cli.main(["modelfile", "--check"]) == 0


def test_no_recipes_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ModelfileError, match="no recipes"):
        write_modelfiles(root=tmp_path)
