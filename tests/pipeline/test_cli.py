"""`storyloom-pipeline prompt`: the exact text a model gets, from the one prompt owner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from storyloom.prompting import continuation_messages, render_chatml
from storyloom_pipeline.cli import main


@pytest.fixture
def story(tmp_path: Path) -> Path:
    path = tmp_path / "story.txt"
    path.write_text("The rain had not stopped.\n\n“Open the door,” said Mr. Hale.\n", "utf-8")
    return path


def test_prompt_prints_the_chatml_the_app_sends(story: Path, capsys) -> None:
    assert main(["prompt", str(story)]) == 0
    expected = render_chatml(continuation_messages(story.read_text("utf-8")))
    assert capsys.readouterr().out == expected


def test_prompt_with_guidance_as_messages(story: Path, capsys) -> None:
    assert main(["prompt", str(story), "--guidance", "Hale flees.", "--format", "messages"]) == 0
    messages = json.loads(capsys.readouterr().out)["messages"]
    assert messages == continuation_messages(story.read_text("utf-8"), "Hale flees.")


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="cannot read"):
        main(["prompt", str(tmp_path / "missing.txt")])


def test_console_script_runs_as_a_module(story: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "storyloom_pipeline", "prompt", str(story), "--format", "user"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.startswith("### System: You are a writer’s assistant.\n\n### Task:")
