"""The asyncio event loop the app runs on: qasync's Qt loop, plus async-generator hooks.

qasync's `run_forever` skips what asyncio's own does first: registering the loop's
async-generator hooks. Without them an async generator left mid-iteration (a stream the writer
stopped, an HTTP body abandoned after an error) is never closed on the loop; it is finalized
later by the garbage collector with no loop running, and its clean-up fails ("no running event
loop"). With the hooks, asyncio schedules `aclose()` on the loop as soon as such a generator is
dropped, and `shutdown_asyncgens()` closes the rest when the loop ends.
"""

from __future__ import annotations

import sys

from qasync import QEventLoop


class StoryloomEventLoop(QEventLoop):
    def run_forever(self) -> int:
        previous = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(
            firstiter=self._asyncgen_firstiter_hook, finalizer=self._asyncgen_finalizer_hook
        )
        try:
            return super().run_forever()
        finally:
            sys.set_asyncgen_hooks(*previous)
