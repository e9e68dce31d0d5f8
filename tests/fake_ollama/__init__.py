"""A test double of the Ollama HTTP server, faithful to the bytes of a real Ollama v0.32.15.

Tests drive it with the real ``ollama`` client, so the client's own parsing and error handling
are part of what is tested::

    from fake_ollama import FakeOllama, Script, straddling_chunks, tagged_reply

    with FakeOllama() as server:                      # serves the recording's "smol"
        reply = tagged_reply("The hinge was rusty.", "The door opened.")
        server.set_script(Script(straddling_chunks(reply), delay=0.01))
        client = ollama.Client(host=server.url)
        for part in client.generate("smol", prompt, raw=True, stream=True): ...
        server.requests_to("/api/generate")[-1].body  # the exact bytes the client sent

What a test controls: installed models (``add_model``, ``install``, ``add_blob``), what a model
says and how it fails (``set_script``/``queue_script`` with a ``Script``: chunks, delay,
``error_after``, ``stall_after``), ``default_num_ctx``, the ``token_counter``, ``offline``,
``load_delay`` and ``progress_delay``. What it observes: ``requests``, ``disconnects``
(``wait_for_disconnect``), ``generations`` (prompt token counts, truncation, outcome).

Modules: ``server`` (FakeOllama), ``scripts`` (replies and chunking), ``models`` (tags, show,
ps), ``generation`` (generate, chat), ``transfer`` (pull, push, create, blobs), ``catalog`` (the
rest), ``handler`` (HTTP plumbing), ``wire`` (Go's bytes), ``records`` (what was seen),
``validation`` (Go's error messages), ``transcripts`` (the .http parser), ``fixtures`` (pytest).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fake_ollama.records import Disconnect, GenerationRecord, RecordedRequest
from fake_ollama.scripts import (
    RUNNER_EOF,
    PromptInfo,
    Script,
    estimate_tokens,
    split_tokens,
    straddling_chunks,
    tagged_reply,
)
from fake_ollama.server import FakeOllama

__all__ = [
    "RUNNER_EOF",
    "Disconnect",
    "FakeOllama",
    "GenerationRecord",
    "PromptInfo",
    "RecordedRequest",
    "Script",
    "estimate_tokens",
    "running_fake_ollama",
    "split_tokens",
    "straddling_chunks",
    "tagged_reply",
]


@contextmanager
def running_fake_ollama(**options: Any) -> Iterator[FakeOllama]:
    """A started FakeOllama, stopped on exit; for code that does not use pytest fixtures.

    ``options`` go to ``FakeOllama(...)``. Point a client at ``server.url``.
    """
    server = FakeOllama(**options)
    server.start()
    try:
        yield server
    finally:
        server.stop()
