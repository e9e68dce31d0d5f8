"""`storyloom --self-test` passes on a working install and fails, by name, on a broken one.

Also the desktop identity the running app reports, and the icons as Qt itself reads them.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
from PySide6.QtCore import QBuffer, QByteArray, QIODevice
from PySide6.QtGui import QImage, QImageReader
from PySide6.QtWidgets import QApplication

from storyloom import APP_ID
from storyloom.gui import self_test
from storyloom.gui.app import create_application
from storyloom.prompting import ParsedResponse

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def restore_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    # run_self_test sets QT_QPA_PLATFORM for the process; undo it after each test.
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")


def lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.splitlines()


def test_self_test_passes_in_process(qapp: QApplication, capsys) -> None:
    assert self_test.run_self_test(["storyloom"]) == 0
    out = lines(capsys)
    checks = [line.split("ok   ", 1)[1].split(" (")[0] for line in out if " ok   " in line]
    assert checks == [
        "prompting round trip",
        "settings store",
        "manuscript files",
        "main window",
        "app run and shutdown",
        "no ML libraries loaded",
    ]
    assert out[-1].startswith("self-test: passed (6 checks")


def test_a_failing_check_fails_the_self_test_by_name(qapp, monkeypatch, capsys) -> None:
    monkeypatch.setattr(self_test, "parse_response", lambda *_: ParsedResponse("", "garbled"))
    assert self_test.run_self_test(["storyloom"]) == 1
    out = lines(capsys)
    assert any(line.startswith("self-test: FAIL prompting round trip") for line in out)
    assert out[-1] == "self-test: FAILED: prompting round trip"


def test_a_broken_window_fails_the_self_test(qapp, monkeypatch, capsys) -> None:
    def broken(*_: object) -> str:
        raise RuntimeError("no editor")

    monkeypatch.setattr(self_test, "check_window", broken)
    assert self_test.run_self_test(["storyloom"]) == 1
    assert lines(capsys)[-1] == "self-test: FAILED: main window"


def test_a_window_that_never_shows_fails_at_the_deadline(qapp, monkeypatch, capsys) -> None:
    quit_asked: list[bool] = []
    monkeypatch.setattr(QApplication, "quit", lambda *_: quit_asked.append(True))
    monkeypatch.setattr(self_test, "WINDOW_TIMEOUT_S", 0.2)

    def run_without_a_window(argv: list[str]) -> int:
        give_up = time.monotonic() + 10
        while not quit_asked and time.monotonic() < give_up:
            qapp.processEvents()
            time.sleep(0.01)
        return 0

    monkeypatch.setattr(self_test, "run", run_without_a_window)
    assert self_test.run_self_test(["storyloom"]) == 1
    assert quit_asked
    assert "self-test: FAIL main window: not shown within 0 s" in lines(capsys)


def test_ml_libraries_loaded_before_the_app_started_are_not_its_doing(qapp, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", types.ModuleType("torch"))
    assert self_test.run_self_test(["storyloom"]) == 0


def test_loading_an_ml_library_fails_the_self_test(qapp, monkeypatch, capsys) -> None:
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    real_check = self_test.check_settings_store

    def check_that_loads_torch() -> str:  # as if starting the app pulled torch in
        monkeypatch.setitem(sys.modules, "torch", types.ModuleType("torch"))
        return real_check()

    monkeypatch.setattr(self_test, "check_settings_store", check_that_loads_torch)
    assert self_test.run_self_test(["storyloom"]) == 1
    assert lines(capsys)[-1] == "self-test: FAILED: no ML libraries loaded"


def test_command_line_self_test_needs_no_display() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["QT_QPA_PLATFORM"] = "xcb"  # would abort without a display: the self-test overrides it
    result = subprocess.run(
        [sys.executable, "-m", "storyloom", "--self-test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "self-test: ok   main window (1200x780, offscreen)" in result.stdout


# -- the desktop identity --------------------------------------------------------------------


def test_desktop_entry_matches_the_running_app(qapp: QApplication) -> None:
    app = create_application([])
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(REPO / "resources" / "linux" / f"{APP_ID}.desktop", encoding="utf-8")
    # Wayland matches windows to the entry by desktop file name, X11 docks by WM_CLASS.
    assert app.desktopFileName() == APP_ID
    assert app.applicationName() == entry["Desktop Entry"]["StartupWMClass"]


# -- icons as Qt reads them ------------------------------------------------------------------


def load_app_icons() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("app_icons", REPO / "packaging" / "app_icons.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_images(data: bytes, image_format: str) -> list[tuple[int, int]]:
    array = QByteArray(data)
    buffer = QBuffer(array)
    buffer.open(QIODevice.OpenModeFlag.ReadOnly)
    reader = QImageReader(buffer, image_format.encode())
    sizes = []
    for index in range(reader.imageCount()):
        reader.jumpToImage(index)
        image = reader.read()
        assert not image.isNull(), reader.errorString()
        sizes.append((image.width(), image.height()))
    return sizes


def test_qt_reads_every_image_of_the_windows_and_macos_icons(qapp: QApplication) -> None:
    icons = load_app_icons()
    pngs = icons.committed_pngs()
    ico = read_images(icons.ico_bytes(pngs), "ico")
    assert sorted(ico) == [(s, s) for s in icons.SIZES if s <= 256]
    icns = read_images(icons.icns_bytes(pngs), "icns")
    assert sorted(icns) == [(s, s) for s in sorted(icons.ICNS_TYPES)]


@pytest.mark.parametrize("size", [16, 48, 256])
def test_committed_pngs_are_rendered_from_the_svg(qapp: QApplication, size: int) -> None:
    """An SVG edited without `make icons` leaves stale PNGs: compare pixels."""
    icons = load_app_icons()
    fresh = QImage.fromData(icons.render_png(icons.SVG, size))
    committed = QImage.fromData(icons.png_path(size).read_bytes())
    # Keep each converted image alive while its bits are read: constBits() of a temporary
    # QImage points into freed memory.
    fresh_rgba = fresh.convertToFormat(QImage.Format.Format_RGBA8888)
    fresh_bytes = fresh_rgba.constBits().tobytes()
    committed_rgba = committed.convertToFormat(QImage.Format.Format_RGBA8888)
    committed_bytes = committed_rgba.constBits().tobytes()
    assert len(fresh_bytes) == len(committed_bytes) == size * size * 4
    # A few levels of anti-aliasing difference between Qt versions, not a different picture.
    difference = sum(abs(a - b) for a, b in zip(fresh_bytes, committed_bytes, strict=True))
    assert difference / len(fresh_bytes) < 2.0
