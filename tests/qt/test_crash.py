"""Crash test: the real app, typing and continuing against the test server, is SIGKILLed at a
random moment; the restarted app must recover every change older than 2 s, and the manuscript
on disk must be the original bytes or one whole saved version, never a torn file.

STORYLOOM_CRASH_TRIALS sets the trial count (3 by default, 20 for the full run). Each trial
prints how much it lost: the time from the oldest change that was not recovered to the kill
(0 when everything was).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storyloom.core import paths
from storyloom.core.text_files import TextFormat, decode
from storyloom.gui.dialogs.file_prompts import UnsavedChoice
from storyloom.gui.main_window import MainWindow

from fake_ollama import FakeOllama, Script, split_tokens, tagged_reply
from prompt_helpers import ScriptedPrompts

TRIALS = int(os.environ.get("STORYLOOM_CRASH_TRIALS", "3"))
DRIVER = Path(__file__).with_name("crash_app.py")
PROMISE_S = 2.0  # "every change older than 2 s" is recovered
REPLY = tagged_reply(
    "Maren is afraid of the dark tower but the light must burn again.",
    "She set her shoulder to the door and it gave with a groan, and the stair beyond wound "
    "up into a darkness that smelled of salt and old oil. Somewhere above her the wind found "
    "the broken pane and sang through it, one low note that rose and fell like breathing, "
    "and she climbed towards it with the lamp held high.",
)
LOSSES: list[float] = []


@pytest.fixture(scope="module", autouse=True)
def report_worst_loss():
    yield
    if LOSSES:
        print(f"\ncrash trials: {len(LOSSES)}, worst loss {max(LOSSES):.2f} s")


@pytest.fixture
def manuscript(tmp_path: Path, gutenberg_dir: Path) -> Path:
    """The opening of Alice in Wonderland as the book ships it: UTF-8 with a BOM, CRLF."""
    data = (gutenberg_dir / "11.txt").read_bytes()
    cut = data.index(b"\r\n", 4000) + 2
    path = tmp_path / "alice.txt"
    path.write_bytes(data[:cut])
    return path


def read_log(path: Path) -> list[dict]:
    records = []
    for line in path.read_bytes().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:  # not possible with one write per line, but never trust a crash
            break
    return records


def run_until_killed(
    manuscript: Path, log: Path, errors: Path, server: FakeOllama, rng: random.Random, trial: int
) -> float:
    (paths.config_dir()).mkdir(parents=True, exist_ok=True)
    # smol stands in for a cra-v1 model, as a writer's profile rule would make it.
    (paths.config_dir() / "profiles.json").write_text(
        json.dumps({"models": [{"pattern": "smol:*", "profile": "cra"}]})
    )
    env = {
        **os.environ,
        "OLLAMA_HOST": server.url,
        "STORYLOOM_MODEL": "smol",
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONUNBUFFERED": "1",
    }
    with errors.open("wb") as stderr:  # a file, not a pipe: a full pipe would stall the app
        process = subprocess.Popen(
            [sys.executable, str(DRIVER), str(manuscript), str(log), str(trial)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    deadline = time.monotonic() + 60
    while not (log.exists() and any("ready" in r for r in read_log(log))):
        if process.poll() is not None:
            pytest.fail(f"the app exited before it was ready: {errors.read_text()[-2000:]}")
        assert time.monotonic() < deadline, "the app never opened the manuscript"
        time.sleep(0.02)
    time.sleep(rng.uniform(0.3, 7.0))
    killed_at = time.time()
    process.send_signal(signal.SIGKILL)
    assert process.wait(10) == -signal.SIGKILL
    return killed_at


def restart_and_recover(qtbot, manuscript: Path) -> tuple[str, str, bool]:
    """The restarted app: offer recovery, recover; (writer's text, pending, recovered?)."""
    window = MainWindow()
    window.manuscript.prompts = ScriptedPrompts().answer("unsaved_changes", UnsavedChoice.DISCARD)
    qtbot.addWidget(window)
    dialog = window.manuscript.offer_recovery()
    if dialog is None:  # nothing the file lacks: the file is the recovered state
        window.open_file(manuscript)
        recovered = False
    else:
        assert dialog.list.count() == 1
        dialog.recover_button.click()
        recovered = True
    assert window.manuscript.path == manuscript
    editor = window.editor
    full = editor.toPlainText()
    if editor.has_pending():
        start, end = editor.pending_range()
        state = (full[:start] + full[end:], full[start:end], recovered)
    else:
        state = (full, "", recovered)
    window.manuscript.close_document()
    return state


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(TRIALS))
def test_sigkill_at_a_random_moment_loses_nothing_older_than_2_s(
    trial: int, qtbot, manuscript: Path, tmp_path: Path
) -> None:
    rng = random.Random(1000 + trial)
    original = manuscript.read_bytes()
    log, errors = tmp_path / "states.jsonl", tmp_path / "stderr.txt"
    with FakeOllama() as server:
        server.set_script(Script(split_tokens(REPLY), delay=0.05))
        killed_at = run_until_killed(manuscript, log, errors, server, rng, trial)
    assert "Traceback" not in errors.read_text(), errors.read_text()[-3000:]

    records = read_log(log)
    states = [r for r in records if "text" in r]
    saves = {r["save"] for r in records if "save" in r}

    # The file on disk: the original bytes, or one whole saved version in the original's
    # format (UTF-8 with its BOM, CRLF); never a mix of two.
    on_disk = manuscript.read_bytes()
    if on_disk != original:
        decoded = decode(on_disk)
        assert decoded.text in saves, "the manuscript on disk is no version that was saved"
        assert decoded.format == TextFormat("utf-8-sig", "\r\n")

    text, pending, recovered = restart_and_recover(qtbot, manuscript)
    assert not list(tmp_path.glob("*.storyloom-tmp")), "an interrupted save's file was left"

    # The recovered state must be one the app really was in, and no older than the promise.
    matches = [n for n, s in enumerate(states) if (s["text"], s["pending"]) == (text, pending)]
    assert matches, (
        "the recovered text is no state the story was ever in: "
        f"text …{text[-80:]!r} pending {pending[:80]!r}; last logged "
        f"…{states[-1]['text'][-80:]!r} pending {states[-1]['pending'][:80]!r}"
    )
    newest = matches[-1]
    later = [s["t"] for s in states[newest + 1 :]]
    loss = max(0.0, killed_at - later[0]) if later else 0.0
    LOSSES.append(loss)
    print(
        f"\ncrash trial {trial}: killed {killed_at - states[0]['t']:.2f} s after start, "
        f"{len(states)} states, {len(saves)} saves, "
        f"{'recovered from the journal' if recovered else 'nothing to recover'}, "
        f"pending at the kill {len(states[-1]['pending'])} chars, recovered {len(pending)}, "
        f"loss {loss:.2f} s"
    )
    assert loss < PROMISE_S, f"lost changes made {loss:.2f} s before the kill"
