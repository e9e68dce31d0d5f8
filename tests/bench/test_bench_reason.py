"""P4: 1,000 teacher requests against a local server with 200 ms latency, concurrency 64.

The server (tests/pipeline/openai_fake.py, asyncio) runs in its own process so it does not
compete with the client's event loop. Prints wall time against the ideal (1000/64 x 0.2 s)
and the client's overhead per request: the CPU time of this process (HTTP, JSON, validation,
the fsynced journal) per request, and the wall time beyond the ideal spread over the requests.
Targets: <= 1.15x ideal, <= 2 ms overhead per request.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import time
from pathlib import Path

from storyloom_pipeline.reasoning.chunk_source import Chunk
from storyloom_pipeline.reasoning.journal import Journal
from storyloom_pipeline.reasoning.providers import OpenAICompatibleProvider
from storyloom_pipeline.reasoning.runner import Runner, RunSettings

REQUESTS, CONCURRENCY, LATENCY = 1000, 64, 0.2
SERVER = Path(__file__).resolve().parents[1] / "pipeline" / "openai_fake.py"


def test_p4_reason_throughput(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, str(SERVER), "--latency", str(LATENCY)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(server.stdout.readline().split()[1])  # type: ignore[union-attr]
        chunks = [
            Chunk(f"b{i // 50}", i % 50, f"Context {i}. " * 200, f"Continuation {i}.", "train")
            for i in range(REQUESTS)
        ]
        provider = OpenAICompatibleProvider(
            model="teacher/bench", base_url=f"http://127.0.0.1:{port}/v1", concurrency=CONCURRENCY
        )
        with Journal(tmp_path / "journal.sqlite") as journal:
            runner = Runner(provider, journal, RunSettings(concurrency=CONCURRENCY))
            todo = runner.pending(chunks)

            async def run() -> None:
                try:
                    await runner.run(todo)
                finally:
                    await provider.aclose()

            cpu0, wall0 = time.process_time(), time.perf_counter()
            asyncio.run(run())
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            assert len(journal.done_keys()) == REQUESTS
    finally:
        server.terminate()
        server.wait(10)
    ideal = math.ceil(REQUESTS / CONCURRENCY) * LATENCY
    print(
        f"\nP4 reason: {REQUESTS} requests, concurrency {CONCURRENCY}, {LATENCY * 1000:.0f} ms "
        f"latency: wall {wall:.2f} s vs ideal {ideal:.2f} s ({REQUESTS / CONCURRENCY * LATENCY:.3f}"
        f" s unrounded) = {wall / ideal:.3f}x (target <= 1.15x); client overhead (CPU) "
        f"{cpu / REQUESTS * 1000:.2f} ms/request (target <= 2 ms); wall beyond ideal per "
        f"request in its slot {(wall - ideal) * CONCURRENCY / REQUESTS * 1000:.2f} ms"
    )
