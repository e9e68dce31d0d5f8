"""Any chat model, through the window: the generic profile asks over /api/chat, shows its
<think> block in the Reasoning panel, and the guided CRA model takes the guidance line."""

from __future__ import annotations

import json

import pytest
from PySide6.QtGui import QTextCursor

from storyloom.core.session import Phase
from storyloom.core.settings import AppSettings
from storyloom.gui.main_window import MainWindow
from storyloom.gui.settings_store import open_settings
from storyloom.prompting import continuation_messages, generic_messages, render_chatml

from fake_ollama import FakeOllama, Script, split_tokens, tagged_reply
from loop_helpers import until

STORY = "The lighthouse had been dark for eleven years.\n\nMaren rowed out to it at dusk."
GUIDANCE = "A light comes on at the top of the tower."
GIB = 1024**3


@pytest.fixture
def window(qtbot, run_async, fake_ollama: FakeOllama) -> MainWindow:
    for name in ("qwen2.5:7b", "molbal/cra-v1-guided-7b"):
        fake_ollama.add_model(name, family="qwen2", context_length=32768, embedding_length=3584)
    settings = AppSettings(open_settings().store, total_memory=lambda: 16 * GIB)
    settings.set_host(fake_ollama.url)
    win = MainWindow(settings=settings)
    run_async.at_exit(win.shutdown)
    qtbot.addWidget(win)
    win.editor.setPlainText(STORY)
    win.editor.moveCursor(QTextCursor.MoveOperation.End)
    win.show()
    return win


def continue_and_wait(window: MainWindow, run_async) -> None:
    async def scenario() -> None:
        window.continue_story()
        await until(lambda: window.controller.phase is Phase.DONE)

    run_async(scenario)


def test_a_chat_model_continues_over_the_chat_api(
    window: MainWindow, run_async, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_script(Script(split_tokens("<think>Light, then a voice.</think>She ran.")))
    window.model_box.setCurrentText("qwen2.5:7b")
    assert window.guidance_edit.isEnabled()
    window.guidance_edit.setText(GUIDANCE)
    continue_and_wait(window, run_async)
    assert window.reasoning.text.toPlainText() == "Light, then a voice."
    assert window.editor.pending_text() == " She ran."
    assert not window.reasoning.notice.isVisible()  # no "missing tags" warning for prose
    assert fake_ollama.requests_to("/api/generate") == []
    assert json.loads(fake_ollama.requests_to("/api/chat")[-1].body) == {
        "model": "qwen2.5:7b",
        "messages": generic_messages(STORY, GUIDANCE),
        "stream": True,
        "truncate": False,
        "options": {"num_ctx": 32768, "num_predict": 2048},  # sampling: the model's own
    }


def test_the_guided_cra_model_gets_the_guided_prompt(
    window: MainWindow, run_async, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_script(Script(tagged_reply("The lamp.", "It blazed.")))
    window.model_box.setCurrentText("molbal/cra-v1-guided-7b")
    window.guidance_edit.setText(GUIDANCE)
    continue_and_wait(window, run_async)
    body = json.loads(fake_ollama.requests_to("/api/generate")[-1].body)
    assert body["prompt"] == render_chatml(continuation_messages(STORY, GUIDANCE))
    assert window.reasoning.text.toPlainText() == "The lamp."


def test_the_plain_cra_model_takes_no_guidance(
    window: MainWindow, run_async, fake_ollama: FakeOllama
) -> None:
    window.model_box.setCurrentText("molbal/cra-v1-guided-7b")
    window.guidance_edit.setText(GUIDANCE)
    fake_ollama.add_model("molbal/cra-v1-7b", family="qwen2", context_length=32768)
    window.model_box.setCurrentText("molbal/cra-v1-7b")
    assert not window.guidance_edit.isEnabled()
    continue_and_wait(window, run_async)
    body = json.loads(fake_ollama.requests_to("/api/generate")[-1].body)
    assert body["prompt"] == render_chatml(continuation_messages(STORY))  # trained without it
