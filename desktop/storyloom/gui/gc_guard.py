"""Run Python's cyclic garbage collector on the GUI thread only.

A QObject caught in a reference cycle (a widget whose signal is connected to a lambda over
itself, qasync's timers) is destroyed when the cyclic collector frees it, and the collector runs
in whichever thread happens to allocate at that moment: an HTTP worker, a DNS lookup thread. A
QObject destroyed off the GUI thread corrupts Qt's timer and notifier lists, and the app crashes
later inside Qt (seen here as a segfault in QTimerInfoList::activateTimers). So automatic
collection is switched off and the same generational thresholds are checked from a GUI-thread
timer instead.

Everything alive when the collector starts (modules, Qt wrappers, the window) is frozen out of
collection: scanning it made each full collection take 60-80 ms here, a visible stall in the
middle of a stream; what is left to scan is what the app made since.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

CHECK_INTERVAL_MS = 500


class MainThreadGarbageCollector(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._threshold = gc.get_threshold()
        self._timer = QTimer(self)
        self._timer.setInterval(CHECK_INTERVAL_MS)
        self._timer.timeout.connect(self.check)

    def start(self) -> None:
        gc.disable()
        gc.collect()
        gc.freeze()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        gc.unfreeze()
        gc.collect()
        gc.enable()

    def check(self) -> None:
        """Collect the generations whose counts passed their thresholds, as gc would."""
        count0, count1, count2 = gc.get_count()
        if count0 > self._threshold[0]:
            generation = 0
            if count1 > self._threshold[1]:
                generation = 2 if count2 > self._threshold[2] else 1
            gc.collect(generation)
