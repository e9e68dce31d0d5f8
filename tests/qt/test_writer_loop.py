"""The real window, the real ollama client, the fake Ollama server: the writer's loop end to end."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtTest import QTest

from storyloom.core.session import Phase
from storyloom.gui.dialogs.file_prompts import DiskChoice, UnsavedChoice
from storyloom.gui.main_window import MainWindow

from fake_ollama import RUNNER_EOF, FakeOllama, Script, straddling_chunks, tagged_reply
from loop_helpers import until
from prompt_helpers import ScriptedPrompts

STORY = "The lighthouse had been dark for eleven years.\n\nMaren rowed out to it at dusk."
REASONING = "Maren is afraid, but she has come too far to turn back."
ANSWER = "She tied the boat to the iron ring and climbed."


@pytest.fixture
def window(served_window: Callable[..., MainWindow]) -> MainWindow:
    return served_window(STORY)


def script(server: FakeOllama, delay: float = 0.0, **options) -> None:
    chunks = straddling_chunks(tagged_reply(REASONING, ANSWER), glue=True)
    server.set_script(Script(chunks, delay=delay, **options))


def press(win: MainWindow, key: Qt.Key, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(win.editor, key, modifiers)


def test_continue_streams_reasoning_to_the_panel_and_prose_pending(
    window: MainWindow, fake_ollama: FakeOllama, run_async
) -> None:
    script(fake_ollama)

    async def scenario() -> None:
        press(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        await until(lambda: window.controller.phase is Phase.DONE)

    run_async(scenario)
    assert window.reasoning.text.toPlainText() == REASONING
    assert window.editor.has_pending()
    assert window.editor.pending_text() == " " + ANSWER
    assert window.editor.toPlainText() == STORY + " " + ANSWER
    assert "Done" in window.phase_label.text()
    assert "tokens/s" in window.speed_label.text()
    prompt_tokens = fake_ollama.generations[-1].prompt_tokens
    # num_ctx defaults to the model's trained context (smol: 8,192), capped by memory.
    assert window.context_label.text() == f"context {prompt_tokens:,} / 8,192 tokens"


def test_accept_then_one_undo_removes_it_and_one_redo_brings_it_back(
    window: MainWindow, fake_ollama: FakeOllama, run_async
) -> None:
    script(fake_ollama)

    async def scenario() -> None:
        window.continue_story()
        await until(lambda: window.controller.phase is Phase.DONE)
        press(window, Qt.Key.Key_Tab)

    run_async(scenario)
    assert not window.editor.has_pending()
    assert window.editor.toPlainText() == STORY + " " + ANSWER
    press(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.editor.toPlainText() == STORY
    press(
        window,
        Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert window.editor.toPlainText() == STORY + " " + ANSWER
    # the plan stays readable after accepting
    assert window.reasoning.reasoning_of(0) == REASONING
    assert "She tied the boat" in window.reasoning.takes_list.item(0).text()


def test_esc_stops_mid_stream_then_rejects(window: MainWindow, fake_ollama: FakeOllama, run_async):
    script(fake_ollama, delay=0.02)

    async def scenario() -> None:
        window.continue_story()
        await until(lambda: window.controller.phase is Phase.WRITING)
        await until(lambda: len(window.editor.pending_text()) > 5)
        press(window, Qt.Key.Key_Escape)
        await until(lambda: window.controller.phase is Phase.STOPPED)
        await until(lambda: bool(fake_ollama.disconnects), what="the server to see the disconnect")

    run_async(scenario)
    kept = window.editor.pending_text()
    assert kept and (" " + ANSWER).startswith(kept)  # what arrived stays pending
    assert "Stopped" in window.phase_label.text()
    press(window, Qt.Key.Key_Escape)
    assert not window.editor.has_pending()
    assert window.editor.toPlainText() == STORY


def test_retry_replaces_the_pending_text(window: MainWindow, fake_ollama: FakeOllama, run_async):
    fake_ollama.queue_script(Script(tagged_reply("First plan.", "First take.")))
    fake_ollama.queue_script(Script(tagged_reply("Second plan.", "Second take.")))

    async def scenario() -> None:
        window.continue_story()
        await until(lambda: window.controller.phase is Phase.DONE)
        press(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
        await until(
            lambda: (
                window.controller.phase is Phase.DONE and "Second" in window.editor.pending_text()
            )
        )

    run_async(scenario)
    assert window.editor.toPlainText() == STORY + " Second take."
    assert window.reasoning.text.toPlainText() == "Second plan."
    assert window.reasoning.takes_list.count() == 2  # two takes of the same spot


def test_accepting_while_the_model_still_thinks_accepts_nothing(
    window: MainWindow, fake_ollama: FakeOllama, run_async
) -> None:
    script(fake_ollama, delay=0.05)

    async def scenario() -> None:
        window.continue_story()
        await until(lambda: window.controller.phase is Phase.THINKING)
        press(window, Qt.Key.Key_Tab)  # Tab before any prose has arrived

    run_async(scenario)
    assert window.controller.phase is Phase.STOPPED
    assert not window.editor.has_pending()
    assert window.editor.toPlainText() == STORY


def test_typing_on_accepts(window: MainWindow, fake_ollama: FakeOllama, run_async) -> None:
    script(fake_ollama)

    async def scenario() -> None:
        window.continue_story()
        await until(lambda: window.controller.phase is Phase.DONE)

    run_async(scenario)
    from PySide6.QtTest import QTest

    QTest.keyClicks(window.editor, " Then")
    assert not window.editor.has_pending()
    assert window.editor.toPlainText() == STORY + " " + ANSWER + " Then"


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        pytest.param(
            lambda s, w: w.model_box.setCurrentText("molbal/cra-v1-7b"),
            "ollama pull molbal/cra-v1-7b",
            id="model-not-found",
        ),
        pytest.param(lambda s, w: s.stop(), "not running", id="server-down"),
        pytest.param(
            lambda s, w: s.set_script(Script(["<answer>", "She", " ran"], error_after=2)),
            RUNNER_EOF,
            id="error-mid-stream",
        ),
    ],
)
def test_errors_show_a_message_and_lose_nothing(
    window: MainWindow, fake_ollama: FakeOllama, run_async, setup, expected: str
) -> None:
    setup(fake_ollama, window)

    async def scenario() -> None:
        window.continue_story()
        await until(lambda: window.controller.phase is Phase.FAILED)

    run_async(scenario)
    assert expected in window.reasoning.notice.text()
    assert window.reasoning.notice.isVisible()
    assert "Failed" in window.phase_label.text()
    text = window.editor.toPlainText()
    assert text.startswith(STORY)
    # Only the prose that arrived before the failure is pending, for the writer to judge.
    assert text == STORY + window.editor.pending_text()
    window.reject()
    assert window.editor.toPlainText() == STORY


def test_edits_elsewhere_while_streaming_do_not_corrupt_the_pending_text(
    window: MainWindow, fake_ollama: FakeOllama, run_async
) -> None:
    script(fake_ollama, delay=0.01)

    async def scenario() -> None:
        window.continue_story()
        await until(lambda: window.controller.phase is Phase.WRITING)
        cursor = window.editor.textCursor()
        cursor.setPosition(0)
        window.editor.setTextCursor(cursor)
        from PySide6.QtTest import QTest

        QTest.keyClicks(window.editor, "Prologue. ")
        await until(lambda: window.controller.phase is Phase.DONE)

    run_async(scenario)
    assert window.editor.pending_text() == " " + ANSWER
    assert window.editor.toPlainText() == "Prologue. " + STORY + " " + ANSWER


# -- the pending text goes away while the model still writes -------------------------------------


def slow_script(server: FakeOllama) -> None:
    """A reply long enough to still be streaming when the test steps in."""
    chunks = straddling_chunks(tagged_reply(REASONING, "She waited. " * 100), glue=True)
    server.set_script(Script(chunks, delay=0.01))


def reload_from_disk(window: MainWindow, prompts: ScriptedPrompts, story: Path) -> None:
    story.write_text("Rewritten in another editor.\n")
    os.utime(story, ns=(time.time_ns(), time.time_ns() + 5_000_000))
    prompts.answer("changed_on_disk", DiskChoice.RELOAD)
    window.manuscript.check_disk()


def open_another(window: MainWindow, prompts: ScriptedPrompts, story: Path) -> None:
    other = story.with_name("other.md")
    other.write_text("Another story.\n")
    assert window.open_file(other)


def new_story(window: MainWindow, prompts: ScriptedPrompts, story: Path) -> None:
    assert window.manuscript.new()


@pytest.mark.parametrize("replace", [reload_from_disk, open_another, new_story])
def test_replacing_the_story_mid_stream_stops_the_continuation(
    window: MainWindow, fake_ollama: FakeOllama, run_async, tmp_path: Path, replace
) -> None:
    prompts = ScriptedPrompts().answer("unsaved_changes", UnsavedChoice.DISCARD)
    window.manuscript.prompts = prompts
    story = tmp_path / "story.md"
    story.write_text(STORY)
    assert window.open_file(story)
    window.editor.moveCursor(QTextCursor.MoveOperation.End)
    slow_script(fake_ollama)

    async def scenario() -> None:
        window.continue_story()
        await until(lambda: len(window.editor.pending_text()) > 20)
        replace(window, prompts, story)
        await until(lambda: bool(fake_ollama.disconnects), what="the server to see the disconnect")
        await asyncio.sleep(0.1)  # a dozen flush intervals: nothing may be appended any more

    run_async(scenario)
    assert window.controller.phase is Phase.STOPPED
    assert "Stopped" in window.phase_label.text()
    assert not window.editor.has_pending()
    assert "She waited" not in window.editor.toPlainText()


def test_typing_inside_a_streaming_continuation_accepts_it_and_stops_the_stream(
    window: MainWindow, fake_ollama: FakeOllama, run_async
) -> None:
    slow_script(fake_ollama)

    async def scenario() -> None:
        window.continue_story()
        # two whole sentences shown: what is accepted is what was on screen at the keystroke
        await until(lambda: window.editor.pending_text().count("waited.") >= 2)
        cursor = window.editor.textCursor()
        cursor.setPosition(len(STORY) + len(" She waited."))
        window.editor.setTextCursor(cursor)
        QTest.keyClicks(window.editor, "!")  # into the continuation, as it streams
        await until(lambda: bool(fake_ollama.disconnects), what="the server to see the disconnect")
        await asyncio.sleep(0.1)

    run_async(scenario)
    assert window.controller.phase is Phase.STOPPED
    assert not window.editor.has_pending()
    text = window.editor.toPlainText()
    assert text.startswith(STORY + " She waited.! She waited.")
    assert window.takes.current is not None and window.takes.current.accepted
    assert window.takes.current.answer == text[len(STORY) + 1 :].replace("!", "", 1)
