"""Light, dark, or whatever the system uses: the colour scheme of the whole app.

Qt 6.8 can ask the platform for a scheme (`QStyleHints.setColorScheme`). Where the platform
cannot switch (some Linux desktops, the offscreen platform of the tests) Storyloom sets a
palette itself, and "follow the system" puts the system's palette back.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from storyloom.core.settings import Theme

_SCHEMES = {Theme.LIGHT: Qt.ColorScheme.Light, Theme.DARK: Qt.ColorScheme.Dark}
_system_palette: QPalette | None = None  # the palette before Storyloom replaced it


def apply_theme(app: QApplication, theme: Theme) -> None:
    global _system_palette
    hints = app.styleHints()
    if theme is Theme.SYSTEM:
        hints.unsetColorScheme()
        if _system_palette is not None:
            app.setPalette(_system_palette)
            _system_palette = None
        return
    scheme = _SCHEMES[theme]
    hints.setColorScheme(scheme)
    if hints.colorScheme() == scheme and _system_palette is None:
        return  # the platform switched; its own palette is the right one
    if _system_palette is None:
        _system_palette = QPalette(app.palette())
    app.setPalette(dark_palette() if theme is Theme.DARK else app.style().standardPalette())


def dark_palette() -> QPalette:
    palette = QPalette()
    colours = {
        QPalette.ColorRole.Window: "#2b2b2b",
        QPalette.ColorRole.WindowText: "#e6e6e6",
        QPalette.ColorRole.Base: "#1e1e1e",
        QPalette.ColorRole.AlternateBase: "#2b2b2b",
        QPalette.ColorRole.Text: "#e6e6e6",
        QPalette.ColorRole.Button: "#353535",
        QPalette.ColorRole.ButtonText: "#e6e6e6",
        QPalette.ColorRole.Highlight: "#3d6fb4",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: "#2b2b2b",
        QPalette.ColorRole.ToolTipText: "#e6e6e6",
        QPalette.ColorRole.PlaceholderText: "#8a8a8a",
        QPalette.ColorRole.Link: "#6ea8fe",
    }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7a7a"))
    return palette
