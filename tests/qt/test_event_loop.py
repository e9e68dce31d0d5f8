"""The app's loop closes abandoned async generators on the loop (plain qasync does not)."""

from __future__ import annotations

import asyncio
import gc


def test_an_abandoned_async_generator_is_closed_while_the_loop_runs(run_async) -> None:
    closed_with_loop: list[bool] = []

    async def stream():
        try:
            while True:
                yield 1
                await asyncio.sleep(0)
        finally:
            # Clean-up that awaits, as httpx/anyio's does: only possible on the loop.
            await asyncio.sleep(0)
            closed_with_loop.append(asyncio.get_running_loop().is_running())

    async def scenario() -> None:
        async for _ in stream():
            break  # abandoned mid-iteration, like a stream after an error
        gc.collect()
        for _ in range(10):
            await asyncio.sleep(0)

    run_async(scenario)
    assert closed_with_loop == [True]
