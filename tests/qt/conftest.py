"""Qt fixtures: offscreen platform, no modal dialog ever blocks a test."""

from __future__ import annotations

import os

# Before any QApplication exists: tests never need a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/qt/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.qt)
