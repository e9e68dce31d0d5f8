"""HTTP plumbing: the threaded server, request bodies, and routing to the endpoint modules.

BaseHTTPRequestHandler's own response helpers are not used: they add a ``Server`` header and
cannot order headers as Go does, so every byte goes out through ``wire.Wire``.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from fake_ollama import catalog, generation, transfer
from fake_ollama.records import RecordedRequest
from fake_ollama.validation import HttpError
from fake_ollama.wire import TEXT_PLAIN, ClientGone, ServerStopping, Wire, send_error, send_text

if TYPE_CHECKING:
    from fake_ollama.server import FakeOllama

BLOBS = "/api/blobs/"

Route = Callable[["Call"], None]
ROUTES: dict[str, dict[str, Route]] = {
    "/": {"GET": catalog.root, "HEAD": catalog.root},
    "/api/version": {"GET": catalog.version, "HEAD": catalog.version},
    "/api/tags": {"GET": catalog.tags, "HEAD": catalog.tags},
    "/api/ps": {"GET": catalog.ps},
    "/api/show": {"POST": catalog.show},
    "/api/copy": {"POST": catalog.copy},
    "/api/delete": {"DELETE": catalog.delete},
    "/api/embed": {"POST": catalog.embed},
    "/api/embeddings": {"POST": catalog.embed},
    "/api/generate": {"POST": generation.generate},
    "/api/chat": {"POST": generation.chat},
    "/api/pull": {"POST": transfer.pull},
    "/api/push": {"POST": transfer.push},
    "/api/create": {"POST": transfer.create},
}
BLOB_ROUTES: dict[str, Route] = {"HEAD": transfer.blob_head, "POST": transfer.blob_post}


@dataclass(frozen=True)
class Call:
    """One request being answered: the server state, what arrived, and where to write."""

    fake: FakeOllama
    request: RecordedRequest
    wire: Wire
    started_ns: int  # time.perf_counter_ns() when the request had been read


def serve(fake: FakeOllama, handler: BaseHTTPRequestHandler) -> None:
    """Read, record and answer one request on ``handler``'s connection."""
    method = handler.command
    path, _, query = handler.path.partition("?")
    wire = Wire(handler.connection, fake.stopping, head_only=method == "HEAD")
    headers = tuple(handler.headers.items())
    try:
        if method == "POST" and path.startswith(BLOBS) and fake.blob_exists(path[len(BLOBS) :]):
            # Ollama answers before reading the upload and closes the connection (16 ex. 4).
            fake.record_request(RecordedRequest(method, path, query, headers, b"", None, False))
            transfer.answer_existing_blob(wire)
            _discard_body(handler)
            handler.close_connection = True
            return
        body = _read_body(handler)
        request = RecordedRequest(
            method, path, query, headers, body, RecordedRequest.parse_json(body)
        )
        fake.record_request(request)
        route(Call(fake, request, wire, time.perf_counter_ns()))
    except (ClientGone, ServerStopping):
        wire.close_after = True
    except Exception as error:  # a bug in the fake: report it instead of hanging the client
        fake.internal_errors.append(error)
        traceback.print_exc()
        wire.close_after = True
        if not wire.headers_sent:
            with contextlib.suppress(ClientGone, ServerStopping):
                send_error(wire, 500, f"fake_ollama internal error: {error!r}")
    if wire.close_after:
        handler.close_connection = True


def route(call: Call) -> None:
    path, method = call.request.path, call.request.method
    methods = BLOB_ROUTES if path.startswith(BLOBS) else ROUTES.get(path)
    if methods is None:
        send_text(call.wire, 404, "404 page not found", TEXT_PLAIN)
        return
    endpoint = methods.get(method)
    if endpoint is None:  # gin's 405 page (16 exchange 9, 20 exchange 9)
        allow = ", ".join(methods)
        send_text(call.wire, 405, "405 method not allowed", TEXT_PLAIN, allow=allow)
        return
    try:
        endpoint(call)
    except HttpError as error:
        if call.wire.headers_sent:
            raise
        send_error(call.wire, error.status, error.message)


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request body, whether sized or chunked (the async client uploads blobs chunked)."""
    if "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
        parts = []
        while True:
            size_line = handler.rfile.readline(65537)
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(handler.rfile.read(size))
            handler.rfile.readline(65537)
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length > 0 else b""


def _discard_body(handler: BaseHTTPRequestHandler, limit: int = 256 * 1024) -> None:
    """Read and drop up to 256 KiB of an unread body before closing, as Go's server does, so
    that a small upload is not answered with a connection reset."""
    handler.connection.settimeout(0.5)
    remaining = min(int(handler.headers.get("Content-Length") or limit), limit)
    with contextlib.suppress(OSError):
        while remaining > 0:
            data = handler.rfile.read1(min(remaining, 65536))  # type: ignore[attr-defined]
            if not data:
                break
            remaining -= len(data)


class FakeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # FakeOllama.stop() joins the handlers itself

    def __init__(self, fake: FakeOllama) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn) that can stall offline.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx expects
    server: FakeHTTPServer

    def setup(self) -> None:
        super().setup()
        # Go disables Nagle too; without this a head and body written separately wait for the
        # client's delayed ACK (40 ms per response).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fake.track_connection(self.connection, open_=True)

    def finish(self) -> None:
        try:
            with contextlib.suppress(OSError):
                super().finish()
        finally:
            self.server.fake.track_connection(self.connection, open_=False)

    def handle_one_request(self) -> None:
        # Like BaseHTTPRequestHandler's, but every method goes to serve().
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except OSError:
            self.close_connection = True
            return
        if not self.raw_requestline or len(self.raw_requestline) > 65536:
            self.close_connection = True
            return
        if self.parse_request():
            serve(self.server.fake, self)

    def send_response(self, code: int, message: str | None = None) -> None:
        # Only reached for malformed request lines; Ollama never sends a Server header.
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def log_message(self, format: str, *args: Any) -> None:
        pass
