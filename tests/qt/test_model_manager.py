"""The model manager dialog, offscreen, against the fake Ollama: list, pull, cancel, delete,
preload, use."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from storyloom.core.settings import AppSettings
from storyloom.gui.dialogs.model_manager import COLUMNS, ModelManagerDialog
from storyloom.gui.main_window import MainWindow
from storyloom.gui.settings_store import open_settings
from storyloom.gui.widgets.pull_progress import BAR_STEPS

from fake_ollama import FakeOllama
from fake_ollama.stand_ins import add_cra_7b
from loop_helpers import until

CRA = "molbal/cra-v1-7b"
GUIDED = "molbal/cra-v1-guided-7b"
GIB = 1024**3


@pytest.fixture
def window(qtbot, run_async, fake_ollama: FakeOllama) -> MainWindow:
    add_cra_7b(fake_ollama, CRA)
    add_cra_7b(fake_ollama, GUIDED, installed=False)
    settings = AppSettings(open_settings().store, total_memory=lambda: 16 * GIB)
    settings.set_host(fake_ollama.url)
    win = MainWindow(settings=settings)
    run_async.at_exit(win.shutdown)
    qtbot.addWidget(win)
    win.show()
    return win


def table(dialog: ModelManagerDialog) -> list[list[str]]:
    t = dialog.table
    return [[t.item(r, c).text() for c in range(t.columnCount())] for r in range(t.rowCount())]


def select(dialog: ModelManagerDialog, name: str) -> None:
    row = next(r for r in range(dialog.table.rowCount()) if dialog.table.item(r, 0).text() == name)
    dialog.table.selectRow(row)


def open_manager(window: MainWindow) -> ModelManagerDialog:
    """Open it from the toolbar, as the writer does, and wait for its listing."""
    window.models_action.trigger()
    dialog = window.model_manager
    assert dialog is not None and dialog.isVisible()
    return dialog


def test_lists_size_family_quantization_context_and_loaded(window: MainWindow, run_async) -> None:
    async def scenario() -> None:
        dialog = open_manager(window)
        await until(lambda: dialog.table.rowCount() == 2)

    run_async(scenario)
    dialog = window.model_manager
    assert dialog is not None and not dialog.isModal()
    assert [dialog.table.horizontalHeaderItem(c).text() for c in range(7)] == list(COLUMNS)
    assert table(dialog) == [
        [f"{CRA}:latest", "4.7 GB", "qwen2", "7.6B", "Q4_K_M", "32,768", ""],
        ["smol:latest", "98.4 MB", "llama", "134.52M", "Q4_1", "8,192", ""],
    ]
    assert dialog.storyloom_buttons[CRA].text() == "Installed"
    assert not dialog.storyloom_buttons[CRA].isEnabled()
    assert dialog.storyloom_buttons[GUIDED].isEnabled()


def test_one_click_pull_of_a_storyloom_model(
    window: MainWindow, run_async, qtbot, fake_ollama: FakeOllama
) -> None:
    fake_ollama.progress_delay = 0.005

    async def scenario() -> None:
        dialog = open_manager(window)
        await until(lambda: dialog.table.rowCount() == 2)
        qtbot.mouseClick(dialog.storyloom_buttons[GUIDED], Qt.MouseButton.LeftButton)
        assert not dialog.storyloom_buttons[GUIDED].isEnabled()  # one download at a time
        await until(lambda: dialog.table.rowCount() == 3, what="the pulled model in the list")

    run_async(scenario)
    dialog = window.model_manager
    assert dialog is not None
    row = dialog.rows[f"{GUIDED}:latest"]
    assert row.bar.value() == BAR_STEPS
    assert row.detail.text() == "Done · 4.7 GB"
    assert not row.cancel_button.isEnabled()
    assert dialog.storyloom_buttons[GUIDED].text() == "Installed"
    assert f"{GUIDED}:latest" in [r[0] for r in table(dialog)]
    assert json.loads(fake_ollama.requests_to("/api/pull")[-1].body) == {
        "model": GUIDED,
        "insecure": False,
        "stream": True,
    }


def test_pull_by_name_can_be_cancelled(
    window: MainWindow, run_async, qtbot, fake_ollama: FakeOllama
) -> None:
    fake_ollama.progress_delay = 0.05

    async def scenario() -> None:
        dialog = open_manager(window)
        dialog.pull_name.setText(GUIDED)
        qtbot.mouseClick(dialog.pull_button, Qt.MouseButton.LeftButton)
        row = dialog.rows[f"{GUIDED}:latest"]
        await until(lambda: 0 < row.bar.value() < BAR_STEPS, what="part of the download")
        assert " of 4.7 GB" in row.detail.text()
        qtbot.mouseClick(row.cancel_button, Qt.MouseButton.LeftButton)
        await until(lambda: not dialog.rows, what="the download row to go")

    run_async(scenario)
    dialog = window.model_manager
    assert dialog is not None
    assert dialog.status.text().startswith(f"Pulling {GUIDED} was cancelled")
    assert fake_ollama.wait_for_disconnect(timeout=5).path == "/api/pull"
    assert fake_ollama.model(GUIDED) is None


def test_a_failed_pull_is_reported(window: MainWindow, run_async, qtbot) -> None:
    async def scenario() -> None:
        dialog = open_manager(window)
        dialog.pull_name.setText("nobody/nothing")
        qtbot.mouseClick(dialog.pull_button, Qt.MouseButton.LeftButton)
        await until(lambda: "failed" in dialog.status.text())

    run_async(scenario)
    dialog = window.model_manager
    assert dialog is not None
    assert dialog.status.text() == (
        "Pulling nobody/nothing failed. Ollama's library has no model called "
        "“nobody/nothing”. Check the name."
    )
    assert not dialog.rows


def test_delete_asks_first(
    window: MainWindow,
    run_async,
    qtbot,
    fake_ollama: FakeOllama,
    no_modal_dialogs: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> None:
        dialog = open_manager(window)
        await until(lambda: dialog.table.rowCount() == 2)
        select(dialog, "smol:latest")
        qtbot.mouseClick(dialog.delete_button, Qt.MouseButton.LeftButton)  # answered: Cancel
        assert no_modal_dialogs == ["Delete model"]
        assert fake_ollama.requests_to("/api/delete") == []
        monkeypatch.setattr(QMessageBox, "exec", lambda box: QMessageBox.StandardButton.Yes)
        qtbot.mouseClick(dialog.delete_button, Qt.MouseButton.LeftButton)
        await until(lambda: dialog.table.rowCount() == 1, what="the deletion")

    run_async(scenario)
    assert json.loads(fake_ollama.requests_to("/api/delete")[-1].body) == {"model": "smol:latest"}
    assert fake_ollama.model("smol") is None
    dialog = window.model_manager
    assert dialog is not None and dialog.status.text() == "Deleted smol:latest."


def test_load_into_memory_uses_the_model_settings(
    window: MainWindow, run_async, qtbot, fake_ollama: FakeOllama
) -> None:
    async def scenario() -> None:
        dialog = open_manager(window)
        await until(lambda: dialog.table.rowCount() == 2)
        select(dialog, f"{CRA}:latest")
        qtbot.mouseClick(dialog.preload_button, Qt.MouseButton.LeftButton)
        await until(lambda: table(dialog)[0][6] != "", what="the model to show as loaded")

    run_async(scenario)
    dialog = window.model_manager
    assert dialog is not None
    assert table(dialog)[0][6] == "yes (32,768 ctx)"
    body = json.loads(fake_ollama.requests_to("/api/generate")[-1].body)
    assert (body["prompt"], body["options"]) == ("", {"num_ctx": 32768})


def test_use_switches_the_story_to_that_model(window: MainWindow, run_async) -> None:
    async def scenario() -> None:
        dialog = open_manager(window)
        await until(lambda: dialog.table.rowCount() == 2)
        select(dialog, "smol:latest")
        dialog.use_button.click()

    run_async(scenario)
    assert window.model == "smol:latest"
    assert window.settings.model == "smol:latest"
    assert window.profile.name == "generic"
    assert window.guidance_edit.isEnabled()  # a chat model can take guidance
