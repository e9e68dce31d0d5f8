"""What goes into the PyInstaller bundle and what stays out, as plain data the spec reads.

Kept apart from storyloom.spec (which only PyInstaller can execute) so that tests can check
the lists and the macOS Info.plist on any platform.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from pathlib import Path

from storyloom import APP_ID, __version__

REPO = Path(__file__).resolve().parents[2]
APP_NAME = "Storyloom"
EXECUTABLE = "storyloom"

# Python modules the app never imports but that sit in a developer's venv and would be pulled
# in through optional imports (pydantic -> hypothesis plugin, httpx -> its CLI's click/rich).
PYTHON_EXCLUDES = (
    # the pipeline and its ML stack: the app must run without them (DEVELOPERS.md)
    "storyloom_pipeline",
    "torch",
    "transformers",
    "peft",
    "datasets",
    "gguf",
    "nltk",
    "numpy",
    "safetensors",
    "tokenizers",
    # dev tools and terminal UIs
    "hypothesis",
    "pytest",
    "_pytest",
    "pytestqt",
    "IPython",
    "click",
    "rich",
    "pygments",
    "markdown_it",
    "setuptools",
    "pkg_resources",
    "distutils",
    "tkinter",
    # other Qt bindings qasync would try if they were importable
    "PyQt5",
    "PyQt6",
    "PySide2",
)

# Qt's Python modules beyond Core, Gui and Widgets: none is used (the HTTP client is httpx, not
# QtNetwork). PyInstaller's hooks add some of them because Qt's libraries link each other.
QT_MODULE_EXCLUDES = tuple(
    f"PySide6.{name}"
    for name in (
        "QtNetwork",
        "QtDBus",
        "QtQml",
        "QtQuick",
        "QtQuickWidgets",
        "QtQuickControls2",
        "QtQuickTest",
        "Qt3DCore",
        "Qt3DRender",
        "Qt3DInput",
        "Qt3DLogic",
        "Qt3DAnimation",
        "Qt3DExtras",
        "QtWebEngineCore",
        "QtWebEngineWidgets",
        "QtWebEngineQuick",
        "QtWebChannel",
        "QtWebSockets",
        "QtMultimedia",
        "QtMultimediaWidgets",
        "QtSpatialAudio",
        "QtCharts",
        "QtDataVisualization",
        "QtGraphs",
        "QtPdf",
        "QtPdfWidgets",
        "QtSql",
        "QtTest",
        "QtDesigner",
        "QtUiTools",
        "QtHelp",
        "QtOpenGL",
        "QtOpenGLWidgets",
        "QtPrintSupport",
        "QtSvg",
        "QtSvgWidgets",
        "QtXml",
        "QtConcurrent",
        "QtBluetooth",
        "QtPositioning",
        "QtLocation",
        "QtSerialPort",
        "QtTextToSpeech",
    )
)

EXCLUDES = PYTHON_EXCLUDES + QT_MODULE_EXCLUDES

# Qt plugins (and the libraries only they use) for what a desktop app never meets: embedded
# displays without a window system (eglfs, linuxfb, vnc, evdev input) and QtNetwork's
# backends. Matched against the bundle path with "/" separators; tests/integration/
# test_bundle.py checks that no remaining library links one of these.
QT_PLUGIN_PRUNE = (
    "*/plugins/egldeviceintegrations/*",
    "*/plugins/generic/*",
    "*/plugins/networkinformation/*",
    "*/plugins/tls/*",
    "*/plugins/platforms/*qeglfs*",
    "*/plugins/platforms/*qlinuxfb*",
    "*/plugins/platforms/*qminimalegl*",
    "*/plugins/platforms/*qvkkhrdisplay*",
    "*/plugins/platforms/*qvnc*",
    "*Qt6EglFSDeviceIntegration*",
    "*Qt6EglFsKmsSupport*",
    "*Qt6Network*",
)

# Desktop integration shipped beside the app (under the bundle's _internal/share on Linux):
# what a distribution or the writer copies into ~/.local/share to get a menu entry and icon.
DATA_FILES = (
    (f"resources/linux/{APP_ID}.desktop", "share/applications"),
    (f"resources/linux/{APP_ID}.metainfo.xml", "share/metainfo"),
    (f"resources/icons/{APP_ID}.svg", "share/icons/hicolor/scalable/apps"),
    *(
        (f"resources/icons/hicolor/{s}x{s}/apps/{APP_ID}.png", f"share/icons/hicolor/{s}x{s}/apps")
        for s in (16, 24, 32, 48, 64, 128, 256, 512)
    ),
    ("LICENSE", "."),
)


def datas() -> list[tuple[str, str]]:
    return [(str(REPO / source), dest) for source, dest in DATA_FILES]


def is_pruned(bundle_path: str) -> bool:
    path = bundle_path.replace("\\", "/")
    return any(fnmatch.fnmatch(path, pattern) for pattern in QT_PLUGIN_PRUNE)


def keep(entries: Iterable[tuple]) -> list[tuple]:
    """PyInstaller TOC entries (dest, source, kind) minus pruned Qt plugins, libraries, links."""
    return [entry for entry in entries if not is_pruned(entry[0])]


def info_plist() -> dict[str, object]:
    """The macOS bundle's Info.plist keys beyond those PyInstaller writes itself."""
    return {
        "CFBundleIdentifier": APP_ID,
        "CFBundleName": APP_NAME,
        "CFBundleDisplayName": APP_NAME,
        "CFBundleExecutable": EXECUTABLE,
        "CFBundlePackageType": "APPL",
        "CFBundleShortVersionString": __version__,
        "CFBundleVersion": __version__,
        "CFBundleDevelopmentRegion": "en",
        "LSApplicationCategoryType": "public.app-category.productivity",
        # PySide6 6.8+ wheels need macOS 12 or later.
        "LSMinimumSystemVersion": "12.0",
        # Retina text: without it the editor renders blurred at 2x.
        "NSHighResolutionCapable": True,
        # Follow the system's dark mode instead of forcing the light look.
        "NSRequiresAquaSystemAppearance": False,
        "NSSupportsAutomaticGraphicsSwitching": True,
        "NSHumanReadableCopyright": "MIT licence, the Storyloom developers",
    }
