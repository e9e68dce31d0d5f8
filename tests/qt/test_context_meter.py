"""The status bar's context meter: measured once typing pauses, warning before the story is cut."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtGui import QTextCursor

from storyloom.core.context_window import ContextLevel, ContextUsage
from storyloom.core.options import ModelOptions
from storyloom.core.settings import AppSettings, MemoryStore
from storyloom.gui.controllers.context_meter import MEASURE_DELAY_MS
from storyloom.gui.main_window import MainWindow

CRA = "molbal/cra-v1-7b"


def small_context_window(qtbot) -> MainWindow:
    """A window whose model has num_ctx 4096 with 512 reserved for the reply."""
    settings = AppSettings(MemoryStore())
    window = MainWindow(settings=settings)
    qtbot.addWidget(window)
    window.show()
    options = ModelOptions(
        num_ctx=4096, num_predict=512, temperature=0.7, top_p=0.8, repeat_penalty=1.07
    )
    settings.set_options(CRA, options, window.profile)
    return window


def measure(qtbot, window: MainWindow) -> ContextUsage:
    with qtbot.waitSignal(window.meter.measured, timeout=2000) as signal:
        window.meter.schedule()
    return signal.args[0]


def test_typing_measures_once_after_a_pause(qtbot) -> None:
    window = small_context_window(qtbot)
    window.meter.measure_now()  # whatever the start-up scheduled
    measured: list[ContextUsage] = []
    window.meter.measured.connect(measured.append)
    window.editor.setFocus()
    qtbot.keyClicks(window.editor, "The lighthouse had been dark for eleven years. " * 3)
    assert measured == []  # 141 keystrokes, no measurement yet
    assert window.meter.timer.isActive() and window.meter.timer.interval() == MEASURE_DELAY_MS
    qtbot.waitUntil(lambda: len(measured) == 1, timeout=2000)
    qtbot.wait(2 * MEASURE_DELAY_MS)  # and no second one without new edits
    assert len(measured) == 1
    usage = measured[0]
    assert (usage.num_ctx, usage.reserved_tokens, usage.level) == (4096, 512, ContextLevel.OK)
    assert window.context_meter.label.text() == f"next ≈{usage.prompt_tokens:,} + 512 reply"
    assert window.context_meter.bar.maximum() == 4096
    assert window.context_meter.bar.value() == usage.prompt_tokens + 512


def test_it_warns_before_the_story_is_cut_and_says_when_it_is(qtbot) -> None:
    window = small_context_window(qtbot)
    window.editor.setPlainText("word " * 2000)  # about 3,430 of the 3,584 tokens available
    window.editor.moveCursor(QTextCursor.MoveOperation.End)
    near = measure(qtbot, window)
    assert near.level is ContextLevel.WARNING and near.whole_story
    assert window.context_meter.label.text().endswith(f" · only {near.free_tokens:,} free")
    assert "#e0a800" in window.context_meter.bar.styleSheet()

    window.editor.moveCursor(QTextCursor.MoveOperation.End)
    window.editor.insertPlainText(" word" * 1000)
    cut = measure(qtbot, window)
    assert cut.level is ContextLevel.CUT
    assert window.context_meter.label.text().endswith(" · story start left out")
    assert "left out" in window.context_meter.toolTip()


def test_only_the_text_before_the_cursor_counts(qtbot) -> None:
    window = small_context_window(qtbot)
    window.editor.setPlainText("word " * 2000)
    window.editor.moveCursor(QTextCursor.MoveOperation.Start)
    assert measure(qtbot, window).level is ContextLevel.OK


def test_a_new_context_size_is_measured_too(qtbot) -> None:
    window = small_context_window(qtbot)
    window.editor.setPlainText("word " * 2000)
    window.editor.moveCursor(QTextCursor.MoveOperation.End)
    assert measure(qtbot, window).level is ContextLevel.WARNING
    with qtbot.waitSignal(window.meter.measured, timeout=2000) as signal:
        window.generation = replace(window.generation, num_ctx=16384)  # as scripts set it
    assert (signal.args[0].num_ctx, signal.args[0].level) == (16384, ContextLevel.OK)
    assert window.settings.options(CRA, window.profile).num_ctx == 16384
