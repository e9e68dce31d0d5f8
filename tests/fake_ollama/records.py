"""What the fake saw: requests, disconnects and generations, for tests to assert on."""

from __future__ import annotations

import json as jsonlib
import threading
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    """One request as it arrived: exact body bytes plus the parsed JSON (None when the body is
    empty or not JSON), so a test can assert the exact body a client sent, as ollama-python's
    own tests/test_client.py does."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    json: Any
    body_read: bool = True  # False when the fake answered before reading it (blob exists, 16)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((value for key, value in self.headers if key.lower() == lowered), None)

    @staticmethod
    def parse_json(body: bytes) -> Any:
        try:
            return jsonlib.loads(body) if body.strip() else None
        except ValueError:
            return None


@dataclass(frozen=True)
class Disconnect:
    """A client closed its connection while a response was being produced (14)."""

    path: str
    model: str
    lines_sent: int  # NDJSON lines already written when the fake noticed
    at_ns: int  # time.monotonic_ns() when it was noticed


@dataclass
class GenerationRecord:
    """One /api/generate or /api/chat request that reached the (fake) runner.

    ``prompt`` is the rendered prompt the fake counted, ``prompt_tokens`` what its token counter
    returned, and ``prompt_eval_count`` what it reported after silent truncation (13).
    """

    endpoint: str
    model: str
    prompt: str
    prompt_tokens: int
    prompt_eval_count: int
    num_ctx: int
    truncated: bool
    stream: bool
    tokens_generated: int = 0
    lines_sent: int = 0
    done_reason: str | None = None
    outcome: str = "running"  # running, done, error, rejected, disconnected, stopped


class Recorder:
    """Thread-safe logs of what the fake saw, with blocking waits for tests.

    Handler threads append; a test reads snapshots or waits with a timeout, never a fixed sleep.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._requests: list[RecordedRequest] = []
        self._disconnects: list[Disconnect] = []
        self._generations: list[GenerationRecord] = []

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, oldest first (a snapshot)."""
        with self._changed:
            return list(self._requests)

    def requests_to(self, path: str, method: str | None = None) -> list[RecordedRequest]:
        return [
            request
            for request in self.requests
            if request.path == path and (method is None or request.method == method)
        ]

    def clear_requests(self) -> None:
        with self._changed:
            self._requests.clear()

    def wait_for_request(self, path: str, timeout: float = 5.0, count: int = 1) -> RecordedRequest:
        """Block until ``count`` requests to ``path`` arrived; return the ``count``-th."""
        with self._changed:
            found = self._changed.wait_for(
                lambda: sum(request.path == path for request in self._requests) >= count, timeout
            )
        if not found:
            raise TimeoutError(f"no request #{count} to {path} within {timeout} s")
        return self.requests_to(path)[count - 1]

    @property
    def disconnects(self) -> list[Disconnect]:
        with self._changed:
            return list(self._disconnects)

    def wait_for_disconnect(self, timeout: float = 5.0, count: int = 1) -> Disconnect:
        """Block until the ``count``-th client disconnect was noticed; return it."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._disconnects) >= count, timeout):
                raise TimeoutError(f"no client disconnect #{count} within {timeout} s")
            return self._disconnects[count - 1]

    @property
    def generations(self) -> list[GenerationRecord]:
        """Every generation that reached the fake runner, oldest first."""
        with self._changed:
            return list(self._generations)

    def record_request(self, request: RecordedRequest) -> None:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()

    def record_generation(self, record: GenerationRecord) -> None:
        with self._changed:
            self._generations.append(record)
            self._changed.notify_all()

    def record_disconnect(self, path: str, model: str, lines_sent: int) -> None:
        with self._changed:
            self._disconnects.append(Disconnect(path, model, lines_sent, time.monotonic_ns()))
            self._changed.notify_all()
