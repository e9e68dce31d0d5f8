"""A local OpenAI-compatible chat-completions server for the `reason` tests and benchmark.

asyncio on raw streams (HTTP/1.1 keep-alive, Content-Length bodies), so one process holds
hundreds of concurrent slow requests without a thread each. It answers
`POST /chat/completions` with a deterministic teacher reply and a `usage` (tokens and cost),
after `latency` seconds, and injects faults deterministically: whether the n-th request for a
given body fails, and how, depends only on (seed, body, n), never on arrival order:

- ``429`` with ``Retry-After: <retry_after>``;
- ``500`` whose body echoes the request's Authorization header (a leak the client must redact);
- ``timeout``: nothing for ``stall`` seconds, then the connection closes;
- ``drop``: the connection closes without a response.

In tests: ``with FakeOpenAI(fault_rate=0.3) as server: ... server.url``; it runs its own event
loop in a thread. For the benchmark, run it as a separate process:
``python openai_fake.py --latency 0.2`` prints ``PORT <n>`` and serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import sys
import threading
from collections import Counter
from collections.abc import Callable

FAULTS = ("429", "500", "timeout", "drop")
GUIDANCE_MARKER = "summarize how the story continues"
_REASONS = {200: "OK", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests"}
_REASONS[500] = "Internal Server Error"


def default_reply(prompt: str, attempt: int) -> str:
    """A teacher answer that depends only on the prompt: a guidance sentence for the guidance
    prompt, else a monologue of some forty words."""
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:12]
    if GUIDANCE_MARKER in prompt:
        return f"The travellers reach the inn and the secret {digest} comes out."
    return (
        f"Monologue {digest}. I have to move the story from the quiet room towards the door; "
        "the reader already senses the storm, so the next beat should let the characters act "
        "on what they fear. First the knock, then the hesitation, then the choice to open it."
    )


class FakeOpenAI:
    def __init__(
        self,
        *,
        latency: float = 0.0,
        fault_rate: float = 0.0,
        faults: tuple[str, ...] = FAULTS,
        seed: int = 0,
        retry_after: str = "1",
        stall: float = 2.0,
        api_key: str | None = None,
        reply: Callable[[str, int], str] = default_reply,
        model: str = "teacher/served-v1",
        port: int = 0,
    ) -> None:
        self.latency = latency
        self.fault_rate = fault_rate
        self.faults = faults
        self.seed = seed
        self.retry_after = retry_after
        self.stall = stall
        self.api_key = api_key
        self.reply = reply
        self.model = model
        self.port = port
        self.requests = 0
        self.served = 0  # 200 replies fully written
        self.in_flight = 0  # requests being answered right now
        self.injected: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()  # by sha256 of the prompt
        self.auth_seen: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- running -------------------------------------------------------------------------------

    async def serve(self) -> asyncio.Server:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self._server

    def start(self) -> FakeOpenAI:
        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.serve())
            self._ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._shutdown())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="fake-openai", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP ----------------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if not await self._respond(method, path, headers, body, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _respond(
        self, method: str, path: str, headers: dict[str, str], body: bytes, writer
    ) -> bool:
        """Answer one request; False closes the connection."""
        self.in_flight += 1
        try:
            return await self._answer(method, path, headers, body, writer)
        finally:
            self.in_flight -= 1

    async def _answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes, writer
    ) -> bool:
        self.requests += 1
        auth = headers.get("authorization", "")
        self.auth_seen.add(auth)
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            return await self._send(writer, 404, {"error": {"message": "not found"}})
        if self.api_key is not None and auth != f"Bearer {self.api_key}":
            return await self._send(writer, 401, {"error": {"message": "bad key", "code": 401}})
        request = json.loads(body)
        prompt = request["messages"][-1]["content"]
        digest = hashlib.sha256(prompt.encode()).hexdigest()
        attempt = self.attempts[digest]
        self.attempts[digest] += 1
        fault = self._fault(digest, attempt)
        if fault is not None:
            self.injected[fault] += 1
        if fault == "drop":
            return False
        if fault == "timeout":
            await asyncio.sleep(self.stall)
            return False
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault == "429":
            error = {"error": {"message": "rate limited", "code": 429}}
            return await self._send(writer, 429, error, {"Retry-After": self.retry_after})
        if fault == "500":
            return await self._send(writer, 500, {"error": {"message": f"upstream: {auth}"}})
        text = self.reply(prompt, attempt)
        prompt_tokens, completion_tokens = len(prompt.split()), len(text.split())
        reply = {
            "id": f"gen-{digest[:16]}-{attempt}",
            "object": "chat.completion",
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "cost": (prompt_tokens + 2 * completion_tokens) * 1e-6,
            },
        }
        ok = await self._send(writer, 200, reply)
        self.served += 1
        return ok

    def _fault(self, digest: str, attempt: int) -> str | None:
        if not self.fault_rate:
            return None
        rng = random.Random(f"{self.seed}:{digest}:{attempt}")
        return rng.choice(self.faults) if rng.random() < self.fault_rate else None

    @staticmethod
    async def _send(
        writer, status: int, payload: dict, extra: dict[str, str] | None = None
    ) -> bool:
        body = json.dumps(payload).encode()
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in (extra or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    args = parser.parse_args()
    server = FakeOpenAI(latency=args.latency, fault_rate=args.fault_rate, port=args.port)

    async def run() -> None:
        async with await server.serve():
            print(f"PORT {server.port}", flush=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    sys.exit(0)


if __name__ == "__main__":
    main()
