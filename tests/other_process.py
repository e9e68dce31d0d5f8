"""Another process that does one thing (locks a manuscript, writes a journal) and then waits,
to be SIGKILLed: how tests play a second Storyloom, or one that crashed."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager

# Locks the manuscript argv[1], as a second Storyloom that has it open would.
HOLD_LOCK = """
    from storyloom.core.document_lock import DocumentLock
    DocumentLock.acquire(Path(sys.argv[1]))
"""

# Journals a change to the manuscript argv[1] (with a continuation still pending).
WRITE_JOURNAL = """
    from storyloom.core.journal import Journal, JournalEntry, PendingText
    journal = Journal()  # kept: a dropped Journal would let go of its lock
    journal.write(JournalEntry("Typed before the crash.", Path(sys.argv[1]),
                               pending=PendingText(23, " Streamed."), changed_at=time.time()))
"""


class OtherProcess:
    def __init__(self, work: str, *args: str) -> None:
        code = "import sys, time\nfrom pathlib import Path\n" + textwrap.dedent(work)
        code += "print('ready', flush=True)\ntime.sleep(60)\n"
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        ready = self.process.stdout.readline()
        assert ready == "ready\n", f"the other process did not get ready: {ready!r}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: no clean-up runs, as in a crash."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextmanager
def other_process(work: str, *args: str) -> Iterator[OtherProcess]:
    """Run `work` (Python, with sys, time and Path imported) in another process until it has
    done it; the process is killed on leaving, if the test has not killed it already."""
    other = OtherProcess(work, *args)
    try:
        yield other
    finally:
        other.kill()
