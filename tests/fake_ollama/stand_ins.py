"""Ready-made stand-ins the app's tests share: the cra-v1 model as the registry describes it, and
a web server that is not Ollama."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fake_ollama.models import ModelSpec
    from fake_ollama.server import FakeOllama

CRA_7B = "molbal/cra-v1-7b"
CRA_7B_SIZE = 4_683_087_332  # bytes of the Q4_K_M GGUF on Ollama Hub


def add_cra_7b(server: FakeOllama, name: str = CRA_7B, *, installed: bool = True) -> ModelSpec:
    """A Qwen2.5-7B cra-v1 model; with installed=False only pullable from the 'registry'."""
    return server.add_model(
        name,
        family="qwen2",
        parameter_size="7.6B",
        quantization_level="Q4_K_M",
        context_length=32768,
        embedding_length=3584,
        size=CRA_7B_SIZE,
        installed=installed,
    )


class _NotOllama(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html><body><h1>Welcome to nginx!</h1></body></html>"
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def not_ollama_server(status: int = 200) -> Iterator[str]:
    """Another program answering HTTP (with `status`) on Ollama's port; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotOllama)
    server.status = status  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
