"""Bytes on the wire, written the way Ollama's Go server (gin on net/http) writes them.

Go's encoding/json and net/http differ from Python's defaults in small ways a client can trip
over: HTML characters escaped as ``\\u003c``, floats never in ``1e-05`` form, a fixed header order,
no ``Server`` header, and a body that is sent with ``Content-Length`` or chunked depending on its
size. This module is the one place that knows those rules; the transcripts in
``shared/ollama-transcripts`` (cited as ``NN-name``) are the evidence for each of them.
"""

from __future__ import annotations

import math
import select
import socket
import threading
import time
from collections.abc import Iterable
from decimal import Decimal
from email.utils import formatdate
from http import HTTPStatus
from json import dumps as _json_dumps
from typing import Any

JSON_UTF8 = "application/json; charset=utf-8"  # gin's c.JSON (every 4xx in 10, 11, 20, 24)
JSON_PLAIN = "application/json"  # set by Ollama itself before writing (15, 17, 21 stream:false)
NDJSON = "application/x-ndjson"  # streamResponse (06, 07, 09, 15, 17)
TEXT_UTF8 = "text/plain; charset=utf-8"  # GET / (01)
TEXT_PLAIN = "text/plain"  # gin's 405 page (16 exchange 9, 20 exchange 9)

# net/http buffers this many bytes before it commits to a framing: a handler that writes at
# most this much and returns gets Content-Length, anything larger goes out chunked. Tags with
# 1224 bytes carry Content-Length (17), tags with 2448 bytes and show with ~20 kB are chunked
# in a single chunk (04, 19).
GO_BUFFER = 2048

_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


class ClientGone(Exception):
    """The client closed its connection; Ollama cancels the request context at this point (14)."""


class ServerStopping(Exception):
    """FakeOllama.stop() was called while a request was still being answered."""


# --------------------------------------------------------------------------------------------
# JSON as Go's encoding/json writes it
# --------------------------------------------------------------------------------------------


def go_json(value: Any) -> bytes:
    """Encode ``value`` compactly, keeping dict order, exactly as Go's ``json.Marshal`` would.

    Dicts keep their insertion order because Ollama's responses are Go structs whose field order
    the transcripts show; maps (``model_info``) must be passed already sorted.
    """
    return _encode(value).encode("utf-8")


def _encode(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return go_string(value)
    if isinstance(value, dict):
        items = (f"{go_string(str(key))}:{_encode(item)}" for key, item in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def go_string(text: str) -> str:
    """A JSON string literal with Go's HTML-safe escapes: ``<|im_end|>`` is sent as
    ``\\u003c|im_end|\\u003e`` (04-show, 17-create-files)."""
    encoded = _json_dumps(text, ensure_ascii=False)
    for char, escape in _GO_ESCAPES.items():
        if char in encoded:
            encoded = encoded.replace(char, escape)
    return encoded


def go_float(number: float) -> str:
    """A float as encoding/json writes it: shortest digits, positional between 1e-6 and 1e21.

    ``llama.attention.layer_norm_rms_epsilon`` is 1e-05 and goes out as ``0.00001`` (04-show).
    """
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"Go cannot encode {number} as JSON")
    if number == 0:
        return "-0" if math.copysign(1, number) < 0 else "0"
    if abs(number) < 1e-6 or abs(number) >= 1e21:
        mantissa, exponent = repr(number).split("e")
        sign, digits = exponent[0], exponent[1:].lstrip("0") or "0"
        # strconv writes at least two exponent digits; encoding/json then trims "e-07" to "e-7".
        return f"{mantissa}e{sign}{digits if sign == '-' else digits.zfill(2)}"
    text = format(Decimal(repr(number)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def go_format_value(value: Any) -> str:
    """A parameter value as ``fmt.Sprintf("%v")`` prints it (``ollama show`` parameters, 17).

    JSON numbers arrive in Go as float64, so ``4096`` prints as ``4096`` and ``1000000`` as
    ``1e+06`` (``%v`` uses ``%g`` with shortest digits).
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _go_g(float(value))
    return str(value)


def _go_g(number: float) -> str:
    if number == 0:
        return "0"
    decimal = Decimal(repr(number)).normalize()
    _, digits, exponent = decimal.as_tuple()
    assert isinstance(exponent, int)
    point = len(digits) + exponent - 1  # the decimal exponent of the leading digit
    if point < -4 or point >= 6:  # shortest %g switches to %e from exponent 6 (strconv)
        head = "".join(map(str, digits))
        mantissa = head[0] + ("." + head[1:] if len(head) > 1 else "")
        sign = "-" if number < 0 else ""
        return f"{sign}{mantissa}e{'-' if point < 0 else '+'}{abs(point):02d}"
    text = format(decimal, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# --------------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------------


def rfc3339_nano(ns: int) -> str:
    """Go's ``time.RFC3339Nano`` in UTC: nanoseconds with trailing zeros trimmed
    (``2026-11-25T15:48:01.17477076Z`` in 06, eight digits)."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if fraction:
        text += "." + f"{fraction:09d}".rstrip("0")
    return text + "Z"


def http_date(ns: int | None = None) -> str:
    """The ``Date`` header: ``Wed, 25 Nov 2026 15:47:44 GMT``."""
    return formatdate((time.time_ns() if ns is None else ns) / 1e9, usegmt=True)


# --------------------------------------------------------------------------------------------
# One connection's output
# --------------------------------------------------------------------------------------------


def status_line(status: int) -> str:
    """Go's ``HTTP/1.1 404 Not Found``; codes Go has no text for read ``status code 499``."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = f"status code {status}"
    return f"HTTP/1.1 {status} {reason}"


class Wire:
    """Writes one response to a client socket and notices when the client has gone.

    A write to a socket whose peer has closed often still succeeds (the kernel buffers it), so
    before every write, and while waiting between tokens, the socket is also polled for EOF: the
    fake then stops generating at once, as real Ollama does (14-client-disconnect).
    """

    def __init__(self, sock: socket.socket, stopping: threading.Event, *, head_only: bool = False):
        self.sock = sock
        self.stopping = stopping
        self.head_only = head_only  # a HEAD request: headers only, never a body
        self.headers_sent = False
        self.close_after = False

    # -- raw output ------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        closed = self.peer_closed()
        if not closed:
            try:
                self.sock.sendall(data)
            except OSError:
                closed = True
        if self.stopping.is_set():  # stop() shuts sockets down: not the client's doing
            raise ServerStopping
        if closed:
            raise ClientGone

    def head(
        self,
        status: int,
        headers: Iterable[tuple[str, str]] = (),
        *,
        length: int | None = None,
        chunked: bool = False,
        close: bool = False,
    ) -> None:
        """Send the status line and headers in Go's order: the handler's headers sorted by
        name, then Date, then the framing, then ``Connection: close`` (16 exchange 4)."""
        lines = [status_line(status)]
        lines += [f"{name}: {value}" for name, value in sorted(headers)]
        lines.append(f"Date: {http_date()}")
        if chunked and not self.head_only:
            lines.append("Transfer-Encoding: chunked")
        elif length is not None:
            lines.append(f"Content-Length: {length}")
        if close:
            lines.append("Connection: close")
            self.close_after = True
        self.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        self.headers_sent = True

    def body(self, data: bytes) -> None:
        if data and not self.head_only:
            self.write(data)

    def chunk(self, data: bytes) -> None:
        """One HTTP chunk; Ollama flushes each NDJSON line as exactly one chunk (README)."""
        if data and not self.head_only:
            self.write(b"%x\r\n%b\r\n" % (len(data), data))

    def end_chunks(self) -> None:
        if not self.head_only:
            self.write(b"0\r\n\r\n")

    # -- waiting and noticing a disconnect ---------------------------------------------------

    def peer_closed(self) -> bool:
        """True when the client has closed (EOF or reset) its end of the connection."""
        try:
            if not _readable(self.sock, 0):
                return False
            return self.sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def wait(self, seconds: float | None) -> None:
        """Sleep ``seconds`` (``None``: until the client leaves or the server stops).

        Raises ClientGone or ServerStopping as soon as either happens, so a stalled or slow
        stream never outlives its client or the fake server.
        """
        if self.stopping.is_set():
            raise ServerStopping
        if seconds is not None and seconds <= 0:
            return
        if seconds is not None and seconds < _POLL_RESOLUTION:
            # poll() counts whole milliseconds (rounded up): for a fast token rate, check the
            # client once and sleep the exact time instead.
            if self.peer_closed():
                raise ClientGone
            time.sleep(seconds)
            return
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            remaining = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
            if remaining <= 0:
                return
            try:
                readable = _readable(self.sock, remaining)
            except (OSError, ValueError) as error:
                raise ClientGone from error
            if self.stopping.is_set():  # stop() shuts sockets down: not the client's doing
                raise ServerStopping
            if readable and self.peer_closed():
                raise ClientGone
            if readable:  # the client sent more bytes (pipelining): just sleep instead
                self.stopping.wait(remaining)


_POLL_RESOLUTION = 0.002  # seconds; below this poll()'s millisecond rounding would dominate


def _readable(sock: socket.socket, timeout: float) -> bool:
    """Whether ``sock`` has data or EOF within ``timeout`` seconds. poll() where there is one:
    select() fails on descriptors above 1023, which a long test session can reach."""
    if not hasattr(select, "poll"):
        return bool(select.select([sock], [], [], timeout)[0])
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLPRI | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(timeout * 1000))


# --------------------------------------------------------------------------------------------
# Whole responses
# --------------------------------------------------------------------------------------------


def send_json(wire: Wire, status: int, value: Any, *, charset: bool = True) -> None:
    """gin's ``c.JSON``: charset unless Ollama set the Content-Type first (``waitForStream``
    for pull/push/create with stream:false, 15 exchange 2); Content-Length up to 2 KiB, else
    chunked in one chunk. HEAD gets the Content-Length without the body (16 exchange 1)."""
    data = go_json(value)
    headers = [("Content-Type", JSON_UTF8 if charset else JSON_PLAIN)]
    if len(data) <= GO_BUFFER:
        wire.head(status, headers, length=len(data))
        wire.body(data)
    elif wire.head_only:
        wire.head(status, headers)
    else:
        wire.head(status, headers, chunked=True)
        wire.chunk(data)
        wire.end_chunks()


def send_flushed_json(wire: Wire, status: int, value: Any) -> None:
    """An error that ``streamResponse`` meets before its first line: real status, no charset,
    flushed, so chunked even when tiny (13 exchange 3, 17 exchange 7, 19 exchange 8)."""
    wire.head(status, [("Content-Type", JSON_PLAIN)], chunked=True)
    wire.chunk(go_json(value))
    wire.end_chunks()


def send_error(wire: Wire, status: int, message: str) -> None:
    """``{"error":"..."}`` with no trailing newline (every error in the transcripts)."""
    send_json(wire, status, {"error": message})


def send_text(wire: Wire, status: int, text: str, content_type: str, *, allow: str = "") -> None:
    """Plain text: ``Ollama is running`` (01) and gin's ``405 method not allowed`` (16, 20)."""
    data = text.encode("utf-8")
    headers = [("Content-Type", content_type)]
    if allow:
        headers.append(("Allow", allow))
    wire.head(status, headers, length=len(data))
    wire.body(data)


def send_empty(wire: Wire, status: int, *, close: bool = False) -> None:
    """No content: ``Content-Length: 0`` and no Content-Type (copy, delete, blob 201 in 16, 20);
    a HEAD answer carries only ``Date`` (16 exchange 3)."""
    wire.head(status, length=None if wire.head_only else 0, close=close)


class NdjsonStream:
    """An ``application/x-ndjson`` response, one HTTP chunk per line.

    The headers go out with the first line, as Go sends them on the first flush, so an error that
    happens before any line still gets its real status code (13 exchange 3); an error after that
    becomes a last ``{"error":...}`` line under HTTP 200 (15, 23).
    """

    def __init__(self, wire: Wire):
        self.wire = wire
        self.lines_sent = 0

    @property
    def started(self) -> bool:
        return self.wire.headers_sent

    def send(self, value: Any) -> None:
        if not self.started:
            self.wire.head(200, [("Content-Type", NDJSON)], chunked=True)
        self.wire.chunk(go_json(value) + b"\n")
        self.lines_sent += 1

    def fail(self, message: str, status: int = 500) -> None:
        if not self.started:
            send_flushed_json(self.wire, status, {"error": message})
            return
        self.wire.chunk(go_json({"error": message}) + b"\n")
        self.wire.end_chunks()

    def finish(self) -> None:
        if not self.started:
            self.wire.head(200, [("Content-Type", NDJSON)], chunked=True)
        self.wire.end_chunks()
