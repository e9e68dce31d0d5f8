"""The File menu: New, Open, Open Recent, Save, Save As, Quit, wired to the manuscript."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from storyloom.core.file_settings import FileSettings
from storyloom.gui.controllers.manuscript import ManuscriptController


@dataclass
class FileActions:
    menu: QMenu
    new: QAction
    open: QAction
    recent: QMenu
    save: QAction
    save_as: QAction
    quit: QAction


def build_file_menu(
    window: QMainWindow, manuscript: ManuscriptController, files: FileSettings
) -> FileActions:
    menu = window.menuBar().addMenu("&File")
    menu.setObjectName("fileMenu")

    def action(text: str, shortcut: QKeySequence.StandardKey, slot) -> QAction:
        item = menu.addAction(text)
        item.setShortcut(QKeySequence(shortcut))
        item.triggered.connect(lambda: slot())
        return item

    new = action("&New", QKeySequence.StandardKey.New, manuscript.new)
    open_ = action("&Open…", QKeySequence.StandardKey.Open, manuscript.open)
    recent = menu.addMenu("Open &Recent")
    recent.setObjectName("recentMenu")
    recent.aboutToShow.connect(lambda: fill_recent_menu(recent, manuscript, files))
    fill_recent_menu(recent, manuscript, files)
    menu.addSeparator()
    save = action("&Save", QKeySequence.StandardKey.Save, manuscript.save)
    save_as = action("Save &As…", QKeySequence.StandardKey.SaveAs, manuscript.save_as)
    menu.addSeparator()
    quit_ = action("&Quit", QKeySequence.StandardKey.Quit, window.close)
    return FileActions(menu, new, open_, recent, save, save_as, quit_)


def fill_recent_menu(menu: QMenu, manuscript: ManuscriptController, files: FileSettings) -> None:
    menu.clear()
    recent = files.recent
    for n, path in enumerate(recent, start=1):
        item = menu.addAction(f"&{n % 10} {path.name}")
        item.setToolTip(str(path))
        item.setStatusTip(str(path))
        item.triggered.connect(lambda _=False, path=path: manuscript.open(path))
    if recent:
        menu.addSeparator()
        menu.addAction("Clear List").triggered.connect(files.clear_recent)
    else:
        menu.addAction("No recent manuscripts").setEnabled(False)
