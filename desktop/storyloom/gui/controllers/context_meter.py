"""Recomputes the context meter once typing pauses, never on every keystroke.

Measuring cuts and renders the whole story before the cursor: cheap once, wasteful 10 times a
second over a novel. Every edit restarts a short single-shot timer; the measurement runs when
it fires, i.e. MEASURE_DELAY_MS after the writer stops (or a stream stops delivering).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from storyloom.core.context_window import ContextUsage

MEASURE_DELAY_MS = 300


class ContextMeterController(QObject):
    measured = Signal(object)  # ContextUsage

    def __init__(self, measure: Callable[[], ContextUsage], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._measure = measure
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(MEASURE_DELAY_MS)
        self.timer.timeout.connect(self.measure_now)

    def schedule(self) -> None:
        """Measure once things have been quiet for MEASURE_DELAY_MS."""
        self.timer.start()

    def measure_now(self) -> None:
        self.timer.stop()
        self.measured.emit(self._measure())
