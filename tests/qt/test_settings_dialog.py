"""The settings dialog, offscreen: validation, reset, and settings that survive a restart.

Every test has its own config folder (tests/conftest.py), so the window's settings.ini is a
fresh file that a second window, built the same way, reads back.
"""

from __future__ import annotations

import json

import pytest
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QDialogButtonBox

from storyloom.core import paths
from storyloom.core.backups import DEFAULT_BACKUPS_KEPT
from storyloom.core.file_settings import FileSettings
from storyloom.core.settings import EditorSettings, Theme
from storyloom.gui.dialogs.settings_dialog import SettingsDialog
from storyloom.gui.main_window import MainWindow
from storyloom.gui.settings_store import SETTINGS_FILE, open_settings
from storyloom.gui.theme import apply_theme

from fake_ollama import FakeOllama
from loop_helpers import until

CRA = "molbal/cra-v1-7b"


@pytest.fixture
def restore_theme(qapp: QApplication):
    yield
    apply_theme(qapp, Theme.SYSTEM)


def new_window(qtbot, run_async=None, *, closed_by_test: bool = False) -> MainWindow:
    window = MainWindow()  # settings from the config folder, as the app does
    if run_async is not None:
        run_async.at_exit(window.shutdown)
    if not closed_by_test:  # Qt deletes a closed window, qtbot must not close it again
        qtbot.addWidget(window)
    window.show()
    return window


def click(dialog: SettingsDialog, which: QDialogButtonBox.StandardButton) -> None:
    dialog.buttons.button(which).click()


def test_settings_survive_a_restart_of_the_window(qtbot, run_async, restore_theme) -> None:
    first = new_window(qtbot, run_async, closed_by_test=True)
    first.model_box.setCurrentText(CRA)

    async def change_everything() -> str:
        dialog = first.open_settings()
        assert dialog.isVisible() and dialog.windowTitle() == "Settings"
        dialog.host.setText("http://127.0.0.1:11500/")
        dialog.num_ctx.setValue(12288)
        dialog.num_predict.setValue(1024)
        dialog.temperature.setValue(0.9)
        dialog.top_k.setValue(40)
        dialog.seed.setValue(42)
        dialog.keep_alive.setText("1h")
        dialog.default_font.setChecked(False)
        dialog.font_size.setValue(15.0)
        dialog.theme.setCurrentIndex(dialog.theme.findData(Theme.DARK))
        click(dialog, QDialogButtonBox.StandardButton.Ok)
        assert not dialog.isVisible()
        return dialog.font_family.currentFont().family()

    family = run_async(change_everything)
    first.close()

    second = new_window(qtbot)
    assert second.model == CRA
    assert second.settings.host == "http://127.0.0.1:11500"
    assert second.backend.host == "http://127.0.0.1:11500"  # the new window talks to it
    assert second.settings.editor == EditorSettings(family, 15.0, Theme.DARK)
    assert second.editor.font().pointSizeF() == 15.0
    assert second.editor.font().family() == family
    generation = second.generation
    assert (generation.num_ctx, generation.num_predict, generation.keep_alive) == (
        12288,
        1024,
        "1h",
    )
    assert (generation.temperature, generation.top_p, generation.top_k) == (0.9, 0.8, 40)
    assert (generation.repeat_penalty, generation.seed) == (1.07, 42)
    reopened = second.open_settings()
    assert reopened.num_ctx.value() == 12288 and reopened.keep_alive.text() == "1h"
    ini = (paths.config_dir() / SETTINGS_FILE).read_text()
    assert "num_ctx=12288" in ini and "temperature=0.9" in ini
    assert "top_p" not in ini  # unchanged from the CRA profile's default: not stored


def test_invalid_input_is_explained_and_nothing_is_saved(qtbot) -> None:
    window = new_window(qtbot)
    dialog = window.open_settings()
    dialog.num_ctx.setValue(2048)
    dialog.num_predict.setValue(4096)
    dialog.keep_alive.setText("soon")
    click(dialog, QDialogButtonBox.StandardButton.Ok)
    assert dialog.isVisible()
    assert dialog.error.text() == (
        "keep_alive 'soon' is not a duration: use e.g. 30m, 1h, or -1 for always"
    )
    dialog.keep_alive.setText("")
    click(dialog, QDialogButtonBox.StandardButton.Apply)
    assert "num_predict (4096) must be smaller than num_ctx (2048)" in dialog.error.text()
    dialog.host.setText("http://localhost:port")
    dialog.num_predict.setValue(1024)
    click(dialog, QDialogButtonBox.StandardButton.Ok)
    assert "invalid port" in dialog.error.text()
    assert window.settings.options(CRA, window.profile).num_ctx is None  # nothing saved
    assert window.settings.host == ""


def test_reset_to_defaults(qtbot, run_async) -> None:
    open_settings().set_host("http://gpu-box:11434")
    window = new_window(qtbot, run_async)

    async def scenario() -> None:
        dialog = window.open_settings()
        assert dialog.host.text() == "http://gpu-box:11434"
        dialog.temperature.setValue(1.3)
        dialog.num_ctx.setValue(8192)
        click(dialog, QDialogButtonBox.StandardButton.Apply)
        assert window.generation.temperature == 1.3
        click(dialog, QDialogButtonBox.StandardButton.RestoreDefaults)
        assert dialog.temperature.value() == pytest.approx(0.7)  # the CRA profile's default
        assert dialog.num_ctx.text().startswith("Automatic (")
        assert dialog.host.text() == ""
        assert window.generation.temperature == 1.3  # not saved until OK or Apply
        click(dialog, QDialogButtonBox.StandardButton.Ok)

    run_async(scenario)
    assert window.generation.temperature == 0.7
    assert window.settings.host == ""
    assert window.backend.host == "http://127.0.0.1:9"  # back to OLLAMA_HOST
    ini = (paths.config_dir() / SETTINGS_FILE).read_text()
    assert "temperature" not in ini and "num_ctx" not in ini and "host" not in ini


def test_a_generic_model_starts_from_its_own_defaults(qtbot) -> None:
    window = new_window(qtbot)
    window.model_box.setCurrentText("qwen2.5:7b")
    dialog = window.open_settings()
    assert dialog.temperature.text() == "Model default"
    assert dialog.top_p.text() == "Model default"
    assert dialog.seed.text() == "Random"
    dialog.temperature.setValue(0.5)
    click(dialog, QDialogButtonBox.StandardButton.Ok)
    assert window.generation.temperature == 0.5
    assert window.generation.top_p is None  # left to the model's Modelfile
    assert window.settings.options(CRA, window.profiles.for_model(CRA)).temperature == 0.7


def test_dark_theme_and_back_to_the_system(qtbot, qapp: QApplication, restore_theme) -> None:
    before = qapp.palette().color(QPalette.ColorRole.Window)
    window = new_window(qtbot)
    dialog = window.open_settings()
    dialog.theme.setCurrentIndex(dialog.theme.findData(Theme.DARK))
    click(dialog, QDialogButtonBox.StandardButton.Apply)
    assert qapp.palette().color(QPalette.ColorRole.Window).lightness() < 80
    qtbot.waitUntil(lambda: window.editor.palette().color(QPalette.ColorRole.Base).lightness() < 80)
    dialog.theme.setCurrentIndex(dialog.theme.findData(Theme.SYSTEM))
    click(dialog, QDialogButtonBox.StandardButton.Ok)
    assert qapp.palette().color(QPalette.ColorRole.Window) == before


def test_a_new_host_is_checked_without_a_restart(
    qtbot, run_async, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")  # the fixture pointed it at the fake
    window = new_window(qtbot, run_async)
    assert window.backend.host == "http://127.0.0.1:9"  # OLLAMA_HOST of the tests: nothing there

    async def scenario() -> None:
        window.start_up()
        await until(window.connection_panel.isVisible)
        dialog = window.open_settings()
        dialog.host.setText(fake_ollama.url)
        click(dialog, QDialogButtonBox.StandardButton.Ok)
        await until(lambda: not window.connection_panel.isVisible(), what="the new host")
        await until(lambda: window.models.models is not None, what="its models")

    run_async(scenario)
    assert window.backend.host == fake_ollama.url
    assert [m.name for m in window.models.models or ()] == ["smol:latest"]


def test_a_broken_profiles_file_is_reported_in_the_status_bar(qtbot) -> None:
    path = paths.config_dir() / "profiles.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"models": [{"pattern": "*", "profile": "nope"}]}))
    window = new_window(qtbot)
    assert "no profile called 'nope'" in window.statusBar().currentMessage()
    assert window.profile.name == "cra"  # the shipped table still works


def test_backups_to_keep(qtbot) -> None:
    window = new_window(qtbot)
    dialog = window.open_settings()
    assert dialog.backups_kept.value() == DEFAULT_BACKUPS_KEPT
    dialog.backups_kept.setValue(3)
    click(dialog, QDialogButtonBox.StandardButton.Apply)
    assert window.manuscript.files.backups_kept == 3
    click(dialog, QDialogButtonBox.StandardButton.RestoreDefaults)
    assert dialog.backups_kept.value() == DEFAULT_BACKUPS_KEPT
    dialog.backups_kept.setValue(0)
    click(dialog, QDialogButtonBox.StandardButton.Ok)
    assert FileSettings(open_settings().store).backups_kept == 0
