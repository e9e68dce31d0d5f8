"""The ``fake_ollama`` pytest fixture. Import it into a conftest.py::

from fake_ollama.fixtures import fake_ollama  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fake_ollama.server import FakeOllama


@pytest.fixture
def fake_ollama(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOllama]:
    """A started FakeOllama serving ``smol``, with ``OLLAMA_HOST`` pointing at it.

    The server is stopped at teardown, and the test fails if the fake itself crashed while
    answering (a bug in the fake must not pass as a client error).
    """
    server = FakeOllama()
    server.start()
    monkeypatch.setenv("OLLAMA_HOST", server.url)
    try:
        yield server
    finally:
        server.stop()
    if server.internal_errors:
        pytest.fail(f"fake_ollama crashed while answering: {server.internal_errors!r}")
