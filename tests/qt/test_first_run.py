"""From "just installed" to "continuing my story" without a terminal, against the fake Ollama.

The window is built as the app builds it: settings from the (per-test) config folder, the host
from the settings, the backend and model manager from the host.
"""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtTest import QTest

from storyloom.core.session import Phase
from storyloom.core.settings import AppSettings
from storyloom.gui.main_window import MainWindow
from storyloom.gui.settings_store import open_settings
from storyloom.gui.widgets.pull_progress import BAR_STEPS
from storyloom.prompting import STOP_STRINGS, continuation_messages, render_chatml

from fake_ollama import FakeOllama, Script, running_fake_ollama, straddling_chunks, tagged_reply
from fake_ollama.stand_ins import CRA_7B, add_cra_7b
from loop_helpers import until

CRA = CRA_7B
GIB = 1024**3
STORY = "The lighthouse had been dark for eleven years.\n\nMaren rowed out to it at dusk."
REASONING = "Maren is afraid, but she has come too far to turn back."
ANSWER = "She tied the boat to the iron ring and climbed."


def publish_cra(server: FakeOllama) -> None:
    """molbal/cra-v1-7b as the registry has it: pullable, not installed."""
    add_cra_7b(server, installed=False)
    server.set_script(Script(straddling_chunks(tagged_reply(REASONING, ANSWER), glue=True)))


def open_window(qtbot, run_async, host: str, memory: int = 16 * GIB) -> MainWindow:
    settings = AppSettings(open_settings().store, total_memory=lambda: memory)
    settings.set_host(host)
    window = MainWindow(settings=settings)
    run_async.at_exit(window.shutdown)
    qtbot.addWidget(window)
    window.editor.setPlainText(STORY)
    window.editor.moveCursor(QTextCursor.MoveOperation.End)
    window.show()
    return window


def ctrl_enter(window: MainWindow) -> None:
    QTest.keyClick(window.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)


@pytest.fixture
def empty_server():
    """A fresh Ollama: running, nothing installed, the Storyloom model in its library."""
    with running_fake_ollama(models=[], progress_delay=0.005) as server:
        publish_cra(server)
        yield server
    assert server.internal_errors == []


def test_fresh_profile_to_a_pulled_model_and_a_first_continuation(
    qtbot, run_async, empty_server: FakeOllama
) -> None:
    window = open_window(qtbot, run_async, empty_server.url)
    offer = window.model_offer
    fractions: list[float | None] = []
    window.models.pullProgress.connect(lambda name, step: fractions.append(step.fraction))

    async def scenario() -> None:
        window.start_up()
        await until(offer.isVisible, what="the offer to pull the Storyloom model")
        assert not window.connection_panel.isVisible()
        assert "has no models yet" in offer.message.text()
        assert offer.pull_button.text() == f"Pull {CRA}"
        qtbot.mouseClick(offer.pull_button, Qt.MouseButton.LeftButton)
        await until(lambda: window.models.installed(CRA) is not None, what="the pull")
        await until(lambda: not offer.isVisible(), what="the offer to go")
        ctrl_enter(window)
        await until(lambda: window.controller.phase is Phase.DONE, what="the continuation")

    run_async(scenario)
    # A real progress bar: from "don't know yet" through rising numbers to 100 %.
    assert fractions[0] is None
    known = [f for f in fractions if f is not None]
    assert known == sorted(known) and known[-1] == 1.0
    assert [round(f, 2) for f in known[:5]] == [0.0, 0.25, 0.5, 0.75, 1.0]  # the 4.7 GB layer
    assert offer.progress.bar.value() == BAR_STEPS
    assert offer.progress.detail.text() == "Done · 4.7 GB"
    # The continuation, as the CRA profile asks for it.
    assert window.reasoning.text.toPlainText() == REASONING
    assert window.editor.toPlainText() == STORY + " " + ANSWER
    assert window.editor.pending_text() == " " + ANSWER
    sent = [json.loads(r.body) for r in empty_server.requests_to("/api/generate")]
    preload, continuation = sent
    assert preload == {
        "model": CRA,
        "prompt": "",
        "stream": False,
        "options": {"num_ctx": 32768},  # the same num_ctx, so the continuation needs no reload
    }
    assert continuation == {
        "model": CRA,
        "prompt": render_chatml(continuation_messages(STORY)),
        "raw": True,
        "stream": True,
        "truncate": False,
        "options": {
            "num_ctx": 32768,  # the trained context; 16 GiB afford its KV cache
            "num_predict": 2048,
            "temperature": 0.7,
            "top_p": 0.8,
            "repeat_penalty": 1.07,
            "stop": list(STOP_STRINGS),
        },
    }


def test_a_continuation_of_a_missing_model_offers_the_pull_then_continues(
    qtbot, run_async, empty_server: FakeOllama
) -> None:
    window = open_window(qtbot, run_async, empty_server.url, memory=4 * GIB)
    offer = window.model_offer

    async def scenario() -> None:
        ctrl_enter(window)  # before any check: the writer is quicker than the start-up
        await until(lambda: window.controller.phase is Phase.FAILED)
        assert f"ollama pull {CRA}" in window.reasoning.notice.text()
        assert offer.isVisible()
        assert "continues your story as soon as it is ready" in offer.message.text()
        qtbot.mouseClick(offer.pull_button, Qt.MouseButton.LeftButton)
        await until(lambda: window.controller.phase is Phase.DONE, what="the continuation")

    run_async(scenario)
    assert not window.reasoning.notice.isVisible()  # the new continuation cleared it
    assert window.editor.toPlainText() == STORY + " " + ANSWER
    assert not offer.isVisible()
    generations = [json.loads(r.body) for r in empty_server.requests_to("/api/generate")]
    assert [g["options"]["num_ctx"] for g in generations] == [
        16384,  # the model was unknown: the fallback, capped by memory
        # 4 GiB: a quarter of it holds 17,476 tokens of this model's KV cache
        17408,
    ]


def test_a_failed_pull_says_why_and_offers_to_try_again(qtbot, run_async) -> None:
    with running_fake_ollama(models=[], offline=True) as server:
        window = open_window(qtbot, run_async, server.url)
        offer = window.model_offer

        async def scenario() -> None:
            window.start_up()
            await until(offer.isVisible)
            qtbot.mouseClick(offer.pull_button, Qt.MouseButton.LeftButton)
            await until(lambda: offer.pull_button.text() == "Try again", what="the failure")

        run_async(scenario)
    assert "could not reach its model library" in offer.message.text()
    assert offer.property("level") == "error"


def test_cancelling_the_offered_pull(qtbot, run_async, empty_server: FakeOllama) -> None:
    empty_server.progress_delay = 0.05
    window = open_window(qtbot, run_async, empty_server.url)
    offer = window.model_offer

    async def scenario() -> None:
        window.start_up()
        await until(offer.isVisible)
        qtbot.mouseClick(offer.pull_button, Qt.MouseButton.LeftButton)
        await until(lambda: offer.progress.bar.value() > 0, what="some progress")
        qtbot.mouseClick(offer.progress.cancel_button, Qt.MouseButton.LeftButton)
        await until(offer.pull_button.isVisible, what="the offer to come back")

    run_async(scenario)
    assert empty_server.wait_for_disconnect(timeout=5).path == "/api/pull"
    assert empty_server.model(CRA) is None
    assert not window.models.is_pulling(CRA)
