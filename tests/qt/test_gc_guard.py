"""Cyclic garbage is collected on the GUI thread by the app's timer, not by other threads."""

from __future__ import annotations

import gc
import threading

from storyloom.gui.gc_guard import MainThreadGarbageCollector


class Node:
    def __init__(self, freed_in: list[str]) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it
        self.freed_in = freed_in

    def __del__(self) -> None:
        self.freed_in.append(threading.current_thread().name)


def test_collection_happens_on_the_gui_thread(qapp, qtbot) -> None:
    gc.enable()
    collector = MainThreadGarbageCollector()
    collector.start()
    try:
        assert not gc.isenabled()
        freed_in: list[str] = []
        for _ in range(50):
            Node(freed_in)

        kept: list[list[int]] = []

        def allocate_a_lot() -> None:  # enough to trigger a collection, were gc enabled
            kept.extend([i] for i in range(50_000))

        worker = threading.Thread(target=allocate_a_lot, name="worker")
        worker.start()
        worker.join()
        assert freed_in == []
        qtbot.waitUntil(lambda: len(freed_in) == 50, timeout=5000)
        assert set(freed_in) == {threading.main_thread().name}
    finally:
        collector.stop()
    assert gc.isenabled()
