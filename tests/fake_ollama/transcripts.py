"""A parser for the ``.http`` transcripts recorded from a real Ollama (see their README.md).

Format, per exchange::

    ==== exchange N: <label> ====
    <request line>
    <request headers>

    <request body, or "<binary request body: N bytes ...; not saved>">
    ---- response ----
    <status line>
    <response headers, in order>

    <body exactly as received, de-chunked>
    ---- end of response (<metadata>) ----

Markers start a line. A non-empty request body is followed by one newline before the marker; a
response body is too, unless the metadata says it "ends with \\n" (then its own newline ends the
line). An empty body leaves no line at all. Comment lines (``#``) appear only at the top.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_EXCHANGE = re.compile(r"^==== exchange (\d+): (.*) ====\n", re.MULTILINE)
_RESPONSE = re.compile(r"^---- response ----\n", re.MULTILINE)
_END = re.compile(r"^---- end of response \((.*)\) ----\n?\Z", re.MULTILINE | re.DOTALL)
_BINARY = re.compile(r"<binary request body: .*>")


def _headers(lines: list[str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for line in lines:
        name, _, value = line.partition(":")
        pairs.append((name, value.strip()))
    return tuple(pairs)


def _find(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    lowered = name.lower()
    return next((value for key, value in headers if key.lower() == lowered), None)


@dataclass(frozen=True)
class TranscriptRequest:
    method: str
    target: str
    version: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    body_saved: bool = True  # False for a binary body the recorder did not keep (16, 18, 19)
    body_note: str = ""

    @property
    def request_line(self) -> str:
        return f"{self.method} {self.target} {self.version}"

    def header(self, name: str) -> str | None:
        return _find(self.headers, name)

    def to_bytes(self, host: str | None = None) -> bytes:
        """The request as the recorder sent it, with ``Host`` replaced when ``host`` is given."""
        lines = [self.request_line]
        for name, value in self.headers:
            lines.append(f"{name}: {host if host and name.lower() == 'host' else value}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@dataclass(frozen=True)
class TranscriptResponse:
    status_line: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    metadata: str  # the text inside "---- end of response (...) ----"
    edited: bool = False  # the file's header says this body was cut down (04 exchange 2)

    @property
    def status(self) -> int:
        return int(self.status_line.split()[1])

    @property
    def is_head(self) -> bool:
        return self.metadata.startswith("HEAD")

    @property
    def chunked(self) -> bool:
        return (self.header("Transfer-Encoding") or "").lower() == "chunked"

    @property
    def chunk_count(self) -> int | None:
        match = re.search(r"(\d+) non-empty HTTP chunks", self.metadata)
        return int(match.group(1)) if match else None

    @property
    def declared_length(self) -> int | None:
        match = re.search(r"body (\d+) bytes", self.metadata)
        return int(match.group(1)) if match else None

    @property
    def client_closed(self) -> bool:
        """The recorder closed the socket before the stream ended (14)."""
        return "CLIENT CLOSED" in self.metadata

    @property
    def lines(self) -> list[bytes]:
        """NDJSON lines, without their newlines."""
        return [line for line in self.body.split(b"\n") if line]

    def header(self, name: str) -> str | None:
        return _find(self.headers, name)


@dataclass(frozen=True)
class Exchange:
    transcript: str  # the file's stem, e.g. "06-generate-stream"
    number: int
    label: str
    request: TranscriptRequest
    response: TranscriptResponse

    @property
    def id(self) -> str:
        return f"{self.transcript}#{self.number}"


@dataclass(frozen=True)
class Transcript:
    name: str
    path: Path
    comments: tuple[str, ...]
    exchanges: tuple[Exchange, ...]

    def exchange(self, number: int) -> Exchange:
        return next(exchange for exchange in self.exchanges if exchange.number == number)


def parse_transcript(path: Path) -> Transcript:
    """Parse one ``NN-name.http`` file; raises ValueError where it breaks the format."""
    text = path.read_text(encoding="utf-8")
    pieces = _EXCHANGE.split(text)
    comments = tuple(line for line in pieces[0].splitlines() if line)
    if any(not line.startswith("#") for line in comments):
        raise ValueError(f"{path.name}: text before the first exchange that is not a comment")
    edited = {int(n) for n in re.findall(r"Exchange (\d+)\b.*EDITED", "\n".join(comments))}
    exchanges = []
    for index in range(1, len(pieces), 3):
        number, label, block = int(pieces[index]), pieces[index + 1], pieces[index + 2]
        try:
            request, response = _parse_block(block, edited=number in edited)
        except ValueError as error:
            raise ValueError(f"{path.name} exchange {number}: {error}") from None
        exchanges.append(Exchange(path.stem, number, label, request, response))
    return Transcript(path.stem, path, comments, tuple(exchanges))


def load_transcripts(directory: Path) -> list[Transcript]:
    return [parse_transcript(path) for path in sorted(directory.glob("*.http"))]


def _split_message(text: str, *, body_ends_line: bool) -> tuple[list[str], str]:
    """Start line and headers, and the body text (``text`` ends just before a marker line)."""
    head, _, body = text.partition("\n\n")
    if body and not body_ends_line:
        body = body.removesuffix("\n")
    return head.split("\n"), body


def _parse_block(block: str, *, edited: bool) -> tuple[TranscriptRequest, TranscriptResponse]:
    marker = _RESPONSE.search(block)
    if marker is None:
        raise ValueError("no '---- response ----' marker")
    request_text, response_text = block[: marker.start()], block[marker.end() :]
    head, body = _split_message(request_text, body_ends_line=False)
    method, target, version = head[0].split(" ", 2)
    headers = _headers(head[1:])
    saved = not _BINARY.fullmatch(body)
    request = TranscriptRequest(
        method,
        target,
        version,
        headers,
        body.encode("utf-8") if saved else b"",
        saved,
        "" if saved else body,
    )
    length = request.header("Content-Length")
    if saved and length is not None and int(length) != len(request.body):
        raise ValueError(f"request body is {len(request.body)} bytes, Content-Length {length}")

    end = _END.search(response_text)
    if end is None:
        raise ValueError("no '---- end of response (...) ----' marker")
    ends_with_newline = "ends with \\n" in end.group(1)
    head, body = _split_message(response_text[: end.start()], body_ends_line=ends_with_newline)
    response = TranscriptResponse(
        head[0], _headers(head[1:]), body.encode("utf-8"), end.group(1), edited
    )
    declared = response.declared_length
    if declared is not None and declared != len(response.body) and not edited:
        raise ValueError(f"response body is {len(response.body)} bytes, metadata says {declared}")
    return request, response


# --------------------------------------------------------------------------------------------
# Replaying
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedResponse:
    """A response read off a raw socket, with the chunked framing removed but counted."""

    status_line: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    chunks: int | None  # non-empty HTTP chunks; None when not chunked

    def header(self, name: str) -> str | None:
        return _find(self.headers, name)

    @property
    def lines(self) -> list[bytes]:
        return [line for line in self.body.split(b"\n") if line]


def send_raw(
    host: str, port: int, request: bytes, *, head: bool = False, timeout: float = 10.0
) -> ReceivedResponse:
    """Send ``request`` as-is on a new connection (as the recorder did) and read one response."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request)
        reader = sock.makefile("rb")
        status_line = reader.readline().decode("latin-1").rstrip("\r\n")
        header_lines = []
        while (line := reader.readline()) not in (b"\r\n", b"\n", b""):
            header_lines.append(line.decode("latin-1").rstrip("\r\n"))
        headers = _headers(header_lines)
        if head:
            return ReceivedResponse(status_line, headers, b"", None)
        if (_find(headers, "Transfer-Encoding") or "").lower() == "chunked":
            body, chunks = _read_chunks(reader)
            return ReceivedResponse(status_line, headers, body, chunks)
        length = _find(headers, "Content-Length")
        body = reader.read(int(length)) if length is not None else reader.read()
        return ReceivedResponse(status_line, headers, body, None)


def _read_chunks(reader: Any) -> tuple[bytes, int]:
    parts = []
    while True:
        size = int(reader.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            reader.readline()
            return b"".join(parts), len(parts)
        parts.append(reader.read(size))
        reader.readline()
