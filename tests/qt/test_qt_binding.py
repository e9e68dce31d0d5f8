"""Guards against a Qt binding that corrupts the interpreter (seen in PySide6 6.12.0).

PySide6 6.12.0 drops a reference to None on every call of a Qt method returning void. Python
3.11 still counts references on None, so after a few thousand such calls (a couple of
streamed continuations) the process aborts with "none_dealloc" and the writer loses work.
"""

from __future__ import annotations

import sys

from PySide6.QtGui import QTextCursor, QTextDocument


def test_void_qt_calls_do_not_leak_references_to_none(qapp) -> None:
    document = QTextDocument()
    document.setPlainText("It was a dark night.")
    cursor = QTextCursor(document)
    before = sys.getrefcount(None)
    for _ in range(1000):
        cursor.setPosition(0)
    # Other code may take or drop a few references meanwhile; a leak loses one per call.
    assert abs(sys.getrefcount(None) - before) < 50
