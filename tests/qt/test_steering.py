"""Steering the continuation through the real window, the real client and the fake Ollama:
guidance and suggested directions, the length limit, takes, and rewriting from an edited plan."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtTest import QTest

from storyloom.core.backend import LENGTH_REACHED
from storyloom.core.length import Length
from storyloom.core.session import Phase
from storyloom.core.settings import AppSettings
from storyloom.core.takes import load_takes, takes_path
from storyloom.gui.main_window import MainWindow
from storyloom.gui.settings_store import open_settings
from storyloom.prompting import (
    STOP_STRINGS,
    continuation_messages,
    render_chatml,
    render_plan_prefill,
)

from fake_ollama import FakeOllama, PromptInfo, Script, straddling_chunks, tagged_reply
from loop_helpers import until
from prompt_helpers import ScriptedPrompts

STORY = "The lighthouse had been dark for eleven years.\n\nMaren rowed out to it at dusk."
GUIDED = "molbal/cra-v1-guided-7b"
DIRECTIONS = [
    "Maren finds her father's logbook in the lamp room.",
    "A light comes on at the top of the tower.",
    "Someone below pulls her boat away from the rock.",
]
GIB = 1024**3


@pytest.fixture
def window(served_window: Callable[..., MainWindow], fake_ollama: FakeOllama) -> MainWindow:
    fake_ollama.add_model(GUIDED, family="qwen2", context_length=32768, embedding_length=3584)
    settings = AppSettings(open_settings().store, total_memory=lambda: 16 * GIB)
    return served_window(STORY, settings=settings)


def press(win: MainWindow, key: Qt.Key, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(win.editor, key, modifiers)


async def written(window: MainWindow, action=None) -> None:
    """Continue (or `action`), then wait until the continuation is done.

    (A test runs one event loop: run_async closes the client at its end.)"""
    (action or window.continue_story)()
    await until(lambda: window.controller.phase is Phase.DONE)


def sent_prompts(server: FakeOllama) -> list[str]:
    return [json.loads(r.body)["prompt"] for r in server.requests_to("/api/generate")]


# -- guidance and directions --------------------------------------------------------------------


def test_suggested_directions_become_chips_and_a_chip_becomes_the_guidance(
    window: MainWindow, fake_ollama: FakeOllama, run_async
) -> None:
    def answer(info: PromptInfo) -> Script:
        if "Suggest three different ways" in info.prompt:
            listed = "\n".join(f"{n}. {d}" for n, d in enumerate(DIRECTIONS, 1))
            return Script(tagged_reply("Three ways.", listed))
        return Script(tagged_reply("The light.", "The lamp above her flared."))

    fake_ollama.set_script(answer)
    window.model_box.setCurrentText(GUIDED)
    assert window.steering.suggest_button.isEnabled()

    async def scenario() -> None:
        QTest.mouseClick(window.steering.suggest_button, Qt.MouseButton.LeftButton)
        await until(lambda: len(window.steering.chips) == 3, what="three chips")
        assert [chip.text() for chip in window.steering.chips] == DIRECTIONS
        assert window.steering.suggest_button.text() == "Suggest directions"  # no longer busy
        QTest.mouseClick(window.steering.chips[1], Qt.MouseButton.LeftButton)
        assert window.guidance_edit.text() == DIRECTIONS[1]
        await written(window)

    run_async(scenario)
    assert sent_prompts(fake_ollama)[-1] == render_chatml(
        continuation_messages(STORY, DIRECTIONS[1])
    )
    assert window.takes.current is not None and window.takes.current.guidance == DIRECTIONS[1]
    asked, continued = (json.loads(r.body) for r in fake_ollama.requests_to("/api/generate"))
    assert "Suggest three different ways" in asked["prompt"]
    # the same num_ctx as the continuation, so Ollama never reloads the model in between
    assert asked["options"]["num_ctx"] == continued["options"]["num_ctx"] == 32768


def test_a_model_without_guidance_says_so(window: MainWindow) -> None:
    window.model_box.setCurrentText("smol")  # a plain cra model
    assert not window.guidance_edit.isEnabled()
    assert not window.steering.suggest_button.isEnabled()
    assert "trained without guidance" in window.guidance_edit.toolTip()


def test_no_directions_in_the_reply_is_said_plainly(
    window: MainWindow, fake_ollama: FakeOllama, run_async
) -> None:
    fake_ollama.set_script(Script(tagged_reply("Hmm.", "")))
    window.model_box.setCurrentText(GUIDED)

    async def suggest() -> None:
        window.suggest_directions()
        await until(lambda: window.steering.status.isVisible())
        await until(lambda: not window.directions.is_running)

    run_async(suggest)
    assert "suggested no directions" in window.steering.status.text()
    assert window.steering.chips == []


# -- length -------------------------------------------------------------------------------------


def test_the_length_limit_cuts_at_a_sentence_end_and_closes_the_stream(
    window: MainWindow, fake_ollama: FakeOllama, run_async
) -> None:
    answer = " ".join(f"She climbed step {n} of the stair." for n in range(1, 30))
    chunks = straddling_chunks(tagged_reply("Up.", answer), glue=True)
    fake_ollama.set_script(Script(chunks, delay=0.003))
    box = window.steering.length_box
    box.setCurrentIndex(box.findText("A few sentences (3)"))
    box.activated.emit(box.currentIndex())  # as when the writer picks it

    async def scenario() -> None:
        window.continue_story()
        await until(lambda: window.controller.phase is Phase.DONE)
        await until(lambda: bool(fake_ollama.disconnects), what="the server to see the disconnect")

    run_async(scenario)
    expected = " She climbed step 1 of the stair. She climbed step 2 of the stair. "
    assert window.editor.pending_text() == expected + "She climbed step 3 of the stair."
    assert fake_ollama.disconnects[-1].lines_sent < len(chunks) // 2
    assert window.controller.state.stats.done_reason == LENGTH_REACHED
    assert window.takes.current.outcome == LENGTH_REACHED
    assert window.settings.length is Length.FEW  # remembered for next time
    assert "0 /" not in window.context_label.text()  # the estimate stays; Ollama never said


def test_a_stop_keeps_the_words_still_held_back(
    window: MainWindow, fake_ollama: FakeOllama, run_async
) -> None:
    """The answer begins like a repeat of the story's last line, so the echo trim holds it;
    stopping there keeps those words."""
    chunks = ["<reasoning>", "Go.", "</reasoning>", "<answer>", "Maren", " rowed", " out"]
    fake_ollama.set_script(Script(chunks, stall_after=len(chunks)))

    async def scenario() -> None:
        window.continue_story()
        await until(lambda: window.controller.state.held == "Maren rowed out")
        assert window.editor.pending_text() == ""  # nothing shown yet: it may be an echo
        press(window, Qt.Key.Key_Escape)
        await until(lambda: bool(fake_ollama.disconnects))

    run_async(scenario)
    assert window.controller.phase is Phase.STOPPED
    assert window.editor.pending_text() == " Maren rowed out"


# -- takes --------------------------------------------------------------------------------------


def two_takes(window: MainWindow, server: FakeOllama, run_async) -> None:
    server.queue_script(Script(tagged_reply("First plan.", "She tied the boat.")))
    server.queue_script(Script(tagged_reply("Second plan.", "She left the boat drifting.")))

    async def scenario() -> None:
        await written(window)
        await written(window, window.retry)

    run_async(scenario)


def test_alt_left_and_right_cycle_the_takes_inline(
    window: MainWindow, fake_ollama: FakeOllama, run_async
) -> None:
    two_takes(window, fake_ollama, run_async)
    assert window.editor.pending_text() == " She left the boat drifting."
    assert window.reasoning.takes_list.count() == 2
    assert window.reasoning.takes_list.currentRow() == 1

    press(window, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert window.editor.toPlainText() == STORY + " She tied the boat."
    assert window.reasoning.text.toPlainText() == "First plan."
    assert window.reasoning.takes_list.currentRow() == 0
    press(window, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert window.editor.pending_text() == " She left the boat drifting."
    press(window, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)  # round the end
    assert window.editor.pending_text() == " She tied the boat."

    press(window, Qt.Key.Key_Tab)  # accept the first take
    assert window.editor.toPlainText() == STORY + " She tied the boat."
    assert [t.accepted for t in window.takes.takes] == [True, False]
    assert "accepted" in window.reasoning.takes_list.item(0).text()
    window.editor.undo()
    assert window.editor.toPlainText() == STORY  # one undo step, as ever


def test_clicking_a_take_in_the_panel_shows_it(
    window: MainWindow, fake_ollama: FakeOllama, run_async
) -> None:
    two_takes(window, fake_ollama, run_async)
    takes = window.reasoning.takes_list
    QTest.mouseClick(
        takes.viewport(),
        Qt.MouseButton.LeftButton,
        pos=takes.visualItemRect(takes.item(0)).center(),
    )
    assert window.editor.pending_text() == " She tied the boat."
    assert window.reasoning.plan() == "First plan."


def test_cycling_while_streaming_keeps_what_arrived_as_a_take(
    window: MainWindow, fake_ollama: FakeOllama, run_async
) -> None:
    fake_ollama.queue_script(Script(tagged_reply("First plan.", "She tied the boat.")))
    long = Script(straddling_chunks(tagged_reply("Slow.", "She waited " * 200)), delay=0.01)
    fake_ollama.queue_script(long)

    async def scenario() -> None:
        await written(window)
        window.retry()
        await until(lambda: len(window.editor.pending_text()) > 20)
        press(window, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
        await until(lambda: bool(fake_ollama.disconnects))

    run_async(scenario)
    assert window.editor.pending_text() == " She tied the boat."
    assert [t.outcome for t in window.takes.takes] == ["done", "stopped"]
    assert window.takes.takes[1].answer.startswith("She waited")


@pytest.mark.parametrize("choose", ["alt+left", "click"])
def test_going_back_to_a_take_while_the_model_still_thinks(
    window: MainWindow, fake_ollama: FakeOllama, run_async, choose: str
) -> None:
    """Retry, then back to the first take before any prose came: the stop removes the empty
    pending span, and the take is shown in its place all the same."""
    fake_ollama.queue_script(Script(tagged_reply("First plan.", "She tied the boat.")))
    fake_ollama.queue_script(Script(["<reasoning>", "Slow"], stall_after=2))

    async def scenario() -> None:
        await written(window)
        press(window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
        await until(lambda: window.reasoning.text.toPlainText() == "Slow")
        assert window.controller.phase is Phase.THINKING
        if choose == "alt+left":
            press(window, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
        else:
            window.reasoning.takeActivated.emit(0)
        await until(lambda: bool(fake_ollama.disconnects), what="the server to see the disconnect")

    run_async(scenario)
    assert window.controller.phase is Phase.STOPPED
    assert window.editor.pending_text() == " She tied the boat."
    assert window.editor.toPlainText() == STORY + " She tied the boat."
    assert [t.answer for t in window.takes.takes] == ["She tied the boat."]
    press(window, Qt.Key.Key_Tab)
    assert window.editor.toPlainText() == STORY + " She tied the boat."
    assert window.takes.current.accepted


def test_edit_the_plan_then_rewrite_sends_the_exact_prefilled_prompt(
    window: MainWindow, fake_ollama: FakeOllama, run_async
) -> None:
    fake_ollama.queue_script(Script(tagged_reply("She is afraid.", "She turned back.")))
    fake_ollama.queue_script(Script([" She", " climbed", " the", " stair.", "</answer>"]))
    panel = window.reasoning

    async def scenario() -> None:
        await written(window)
        assert not panel.text.isReadOnly()  # the plan of a pending take can be edited
        panel.text.moveCursor(QTextCursor.MoveOperation.End)
        QTest.keyClicks(panel.text, " She climbs anyway.")
        assert panel.plan_is_edited and panel.plan_note.isVisible()
        assert panel.rewrite_button.isEnabled()
        rewrite = panel.rewrite_button
        await written(window, lambda: QTest.mouseClick(rewrite, Qt.MouseButton.LeftButton))

    run_async(scenario)
    edited = "She is afraid. She climbs anyway."
    body = json.loads(fake_ollama.requests_to("/api/generate")[-1].body)
    assert body == {
        "model": "smol",
        "prompt": render_chatml(continuation_messages(STORY), prefill=render_plan_prefill(edited)),
        "raw": True,
        "stream": True,
        "truncate": False,
        "options": {**body["options"], "stop": list(STOP_STRINGS)},
    }
    assert body["prompt"].endswith(
        "<|im_start|>assistant\n<reasoning>She is afraid. She climbs anyway.</reasoning><answer>"
    )
    assert window.editor.pending_text() == " She climbed the stair."
    first, second = window.takes.takes
    assert (first.reasoning, first.plan_edited) == ("She is afraid.", False)
    assert (second.reasoning, second.plan_edited) == (edited, True)  # kept with the result
    assert panel.plan() == edited
    assert "edited plan" in panel.takes_list.item(1).text()
    assert "written from your edited plan" in panel.plan_note.text()


def test_rewrite_needs_a_raw_cra_model(window: MainWindow, fake_ollama: FakeOllama, run_async):
    fake_ollama.add_model("qwen2.5:7b", family="qwen2", context_length=32768)
    fake_ollama.set_script(Script("<think>Plan.</think>She ran."))
    window.model_box.setCurrentText("qwen2.5:7b")
    run_async(lambda: written(window))
    assert not window.reasoning.rewrite_button.isEnabled()
    assert "cra-v1 model" in window.reasoning.rewrite_button.toolTip()


# -- takes survive saving and reopening ----------------------------------------------------------


def test_takes_survive_saving_and_reopening(
    window: MainWindow, fake_ollama: FakeOllama, run_async, qtbot, tmp_path: Path
) -> None:
    two_takes(window, fake_ollama, run_async)
    press(window, Qt.Key.Key_Tab)  # the second take goes into the story
    manuscript = tmp_path / "story.md"
    manuscript.write_text(window.editor.toPlainText(), encoding="utf-8")
    assert window.save_takes(manuscript)
    assert takes_path(manuscript).is_file() and len(load_takes(manuscript)) == 2

    # Reopened in a new window, with a paragraph written before the spot in the meantime.
    reopened = MainWindow(window.backend, settings=window.settings, profiles=window.profiles)
    qtbot.addWidget(reopened)
    reopened.editor.setPlainText("PROLOGUE\n\n" + manuscript.read_text(encoding="utf-8"))
    assert reopened.load_takes(manuscript)
    reopened.editor.moveCursor(QTextCursor.MoveOperation.End)
    panel = reopened.reasoning
    assert panel.takes_list.count() == 2
    assert panel.reasoning_of(0) == "First plan."
    assert panel.takes_list.currentRow() == 1  # the accepted one
    assert panel.plan() == "Second plan."
    reopened.close()


def test_the_file_menu_saves_and_opens_the_takes(
    window: MainWindow, fake_ollama: FakeOllama, run_async, qtbot, tmp_path: Path
) -> None:
    two_takes(window, fake_ollama, run_async)
    press(window, Qt.Key.Key_Tab)
    manuscript = tmp_path / "story.md"
    window.manuscript.prompts = ScriptedPrompts().answer("save_path", manuscript)
    assert window.manuscript.save()  # untitled: Save As
    assert len(load_takes(manuscript)) == 2

    reopened = MainWindow(window.backend, settings=window.settings, profiles=window.profiles)
    qtbot.addWidget(reopened)
    assert reopened.open_file(manuscript)
    reopened.editor.moveCursor(QTextCursor.MoveOperation.End)  # to the takes' spot
    assert reopened.reasoning.takes_list.count() == 2
    reopened.file_actions.new.trigger()
    assert reopened.reasoning.takes_list.count() == 0  # a new story has no takes
    reopened.close()


def test_a_damaged_takes_file_is_reported_and_set_aside(
    window: MainWindow, fake_ollama: FakeOllama, run_async, tmp_path: Path
) -> None:
    manuscript = tmp_path / "story.md"
    path = takes_path(manuscript)
    path.parent.mkdir()
    path.write_text("{ not json", encoding="utf-8")
    assert not window.load_takes(manuscript)
    assert "damaged" in window.reasoning.notice.text()
    fake_ollama.set_script(Script(tagged_reply("Plan.", "She ran.")))
    run_async(lambda: written(window))
    assert window.save_takes(manuscript)  # the new takes are saved...
    assert "kept as takes.json.unreadable-" in window.reasoning.notice.text()
    kept = [p for p in path.parent.iterdir() if p.name.startswith("takes.json.unreadable-")]
    assert [p.read_text(encoding="utf-8") for p in kept] == ["{ not json"]  # ...and nothing lost


def test_a_spot_follows_edits_before_it(
    window: MainWindow, fake_ollama: FakeOllama, run_async
) -> None:
    """Text written before a spot moves it; a continuation from the same place is another take
    of it, and one from elsewhere starts a new spot."""
    fake_ollama.queue_script(Script(tagged_reply("One.", "She tied the boat.")))
    fake_ollama.queue_script(Script(tagged_reply("Two.", "She waited.")))
    fake_ollama.queue_script(Script(tagged_reply("Three.", "Gulls cried.")))

    async def scenario() -> None:
        await written(window)
        window.reject()
        cursor = window.editor.textCursor()
        cursor.setPosition(0)
        cursor.insertText("PROLOGUE\n\n")  # the writer adds a title before everything
        window.editor.moveCursor(QTextCursor.MoveOperation.End)
        await written(window)
        assert [t.reasoning for t in window.takes.takes] == ["One.", "Two."]
        window.reject()
        window.editor.moveCursor(QTextCursor.MoveOperation.Start)
        window.editor.moveCursor(QTextCursor.MoveOperation.EndOfBlock)  # after "PROLOGUE"
        await written(window)
        assert [t.reasoning for t in window.takes.takes] == ["Three."]

    run_async(scenario)
    assert len(window.takes.store.spots) == 2


async def suggestion_under_way(window: MainWindow, fake_ollama: FakeOllama) -> None:
    """Directions asked of a guided model that thinks without end (until its stream closes)."""
    fake_ollama.set_script(Script(["<reasoning>", "Hmm"], stall_after=2))
    window.model_box.setCurrentText(GUIDED)
    window.suggest_directions()
    await until(lambda: bool(fake_ollama.requests_to("/api/generate")))


def test_stopping_a_suggestion_closes_its_request(
    window: MainWindow, fake_ollama: FakeOllama, run_async
) -> None:
    async def scenario() -> None:
        await suggestion_under_way(window, fake_ollama)
        assert not window.steering.suggest_button.isEnabled()  # busy
        window.directions.stop()
        await until(lambda: bool(fake_ollama.disconnects), what="the server to see the disconnect")

    run_async(scenario)
    assert window.steering.suggest_button.isEnabled()
    assert window.steering.chips == []
    assert not window.steering.status.isVisible()


def test_another_host_stops_a_suggestion_still_asking_the_old_one(
    window: MainWindow, fake_ollama: FakeOllama, run_async
) -> None:
    async def scenario() -> None:
        await suggestion_under_way(window, fake_ollama)
        window._switch_host("http://127.0.0.1:9")  # as the settings dialog's OK does
        await until(lambda: bool(fake_ollama.disconnects), what="the old server to see it")

    run_async(scenario)
    assert not window.directions.is_running
    assert window.steering.suggest_button.isEnabled()
    assert not window.steering.status.isVisible()  # stopped, not failed on a closed client


def test_takes_whose_place_was_lost_come_back_when_the_place_does(
    window: MainWindow, fake_ollama: FakeOllama, run_async, tmp_path: Path
) -> None:
    """Opened with the words before a spot rewritten, the spot is not shown, but its takes stay;
    once the words are back and the writer continues there, the new take joins them."""
    fake_ollama.queue_script(Script(tagged_reply("One.", "She tied the boat.")))
    fake_ollama.queue_script(Script(tagged_reply("Two.", "She waited.")))
    manuscript = tmp_path / "story.md"

    async def scenario() -> None:
        await written(window)
        window.reject()
        assert window.save_takes(manuscript)
        window.editor.setPlainText(STORY.replace("at dusk", "at dawn"))
        assert window.load_takes(manuscript)
        window.editor.moveCursor(QTextCursor.MoveOperation.End)
        assert window.takes.takes == []  # its place is not in this text
        window.editor.setPlainText(STORY)
        window.editor.moveCursor(QTextCursor.MoveOperation.End)
        await written(window)

    run_async(scenario)
    assert [t.reasoning for t in window.takes.takes] == ["One.", "Two."]
    assert len(window.takes.store.spots) == 1


# -- positions in a story with characters outside the BMP ----------------------------------------

# Qt counts positions in UTF-16 code units: each emoji is two, one Python character.
EMOJI_STORY = "🌊🌊 The sea was loud.\n\nMaren rowed out to it at dusk. The tower waited."
MIDDLE = EMOJI_STORY.index(" The tower")  # right after "dusk."


def qt_position(text: str, index: int) -> int:
    return len(text[:index].encode("utf-16-le")) // 2


def put_cursor(window: MainWindow, index: int) -> None:
    cursor = window.editor.textCursor()
    cursor.setPosition(qt_position(window.editor.toPlainText(), index))
    window.editor.setTextCursor(cursor)


def in_the_middle_of_the_emoji_story(window: MainWindow, server: FakeOllama) -> None:
    server.set_script(Script(tagged_reply("Plan.", "She tied the boat.")))
    window.editor.setPlainText(EMOJI_STORY)
    put_cursor(window, MIDDLE)


def test_the_prompt_ends_at_the_cursor_after_emoji(
    window: MainWindow, fake_ollama: FakeOllama, run_async
) -> None:
    in_the_middle_of_the_emoji_story(window, fake_ollama)
    run_async(lambda: written(window))
    assert sent_prompts(fake_ollama) == [render_chatml(continuation_messages(EMOJI_STORY[:MIDDLE]))]


def test_a_spot_after_emoji_is_anchored_and_followed_where_it_is(
    window: MainWindow, fake_ollama: FakeOllama, run_async
) -> None:
    in_the_middle_of_the_emoji_story(window, fake_ollama)

    async def scenario() -> None:
        await written(window)
        window.reject()

    run_async(scenario)
    assert window.takes.spot.anchor == EMOJI_STORY[:MIDDLE]
    put_cursor(window, MIDDLE - 1)  # inside "dusk.": before the spot, no takes
    assert window.reasoning.takes_list.count() == 0
    put_cursor(window, MIDDLE)
    assert window.reasoning.takes_list.count() == 1


def test_takes_saved_while_a_continuation_is_pending_anchor_on_the_writers_text(
    window: MainWindow, fake_ollama: FakeOllama, run_async, tmp_path: Path
) -> None:
    """The pending continuation is never saved, so no anchor may include it: here it sits just
    before an older spot at the story's end."""
    fake_ollama.queue_script(Script(tagged_reply("One.", "Gulls cried.")))
    fake_ollama.queue_script(Script(tagged_reply("Two.", "She tied the boat.")))
    window.editor.setPlainText(EMOJI_STORY)
    window.editor.moveCursor(QTextCursor.MoveOperation.End)
    manuscript = tmp_path / "story.md"

    async def scenario() -> None:
        await written(window)  # a take at the end
        window.reject()
        put_cursor(window, MIDDLE)
        await written(window)  # pending in the middle while the takes are saved

    run_async(scenario)
    assert window.editor.pending_text() == " She tied the boat."
    assert window.save_takes(manuscript)
    anchors = {spot.takes[0].reasoning: spot for spot in load_takes(manuscript).spots}
    assert (anchors["One."].anchor, anchors["One."].offset) == (EMOJI_STORY, len(EMOJI_STORY))
    assert (anchors["Two."].anchor, anchors["Two."].offset) == (EMOJI_STORY[:MIDDLE], MIDDLE)
    # reopened, both spots are where they were
    window.reject()
    assert window.load_takes(manuscript)
    window.editor.moveCursor(QTextCursor.MoveOperation.End)
    assert [t.reasoning for t in window.takes.takes] == ["One."]
    put_cursor(window, MIDDLE)
    assert [t.reasoning for t in window.takes.takes] == ["Two."]
