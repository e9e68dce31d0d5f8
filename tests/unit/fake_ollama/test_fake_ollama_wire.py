"""Go's bytes (JSON, timestamps, headers), request validation and the transcript parser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fake_ollama import running_fake_ollama
from fake_ollama.transcripts import parse_transcript, send_raw
from fake_ollama.validation import HttpError, bind_json, parse_go_duration, parse_keep_alive
from fake_ollama.wire import go_format_value, go_json, rfc3339_nano


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ({"b": 1, "a": [True, None]}, b'{"b":1,"a":[true,null]}'),  # compact, order kept
        ("<|im_end|> & co", b'"\\u003c|im_end|\\u003e \\u0026 co"'),  # HTML-safe (04)
        ('café\n\t"', '"café\\n\\t\\""'.encode()),  # UTF-8 as is
        (1e-05, b"0.00001"),  # layer_norm_rms_epsilon in 04
        (100000.0, b"100000"),
        (0.7, b"0.7"),
        (1e-07, b"1e-7"),
        (1e21, b"1e+21"),
        (123456789.25, b"123456789.25"),
    ],
)
def test_go_json(value: object, encoded: bytes) -> None:
    assert go_json(value) == encoded


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_go_floats_read_back_exactly(number: float) -> None:
    assert float(json.loads(go_json(number))) == number


@pytest.mark.parametrize(
    ("value", "shown"),
    [(4096, "4096"), (1.07, "1.07"), (1000000, "1e+06"), (0.00001, "1e-05"), (True, "true")],
)
def test_go_format_value_is_fmt_v(value: object, shown: str) -> None:
    assert go_format_value(value) == shown


def test_rfc3339_nano_trims_trailing_zeros() -> None:
    assert rfc3339_nano(1_795_621_681_174_770_760) == "2026-11-25T15:48:01.17477076Z"  # 06
    assert rfc3339_nano(1_795_621_681_000_000_000) == "2026-11-25T15:48:01Z"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300.0), ("1h30m", 5400.0), ("-1m", -60.0), ("0", 0.0), ("1.5s", 1.5)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-1", 'time: missing unit in duration "-1"'),  # 24 exchange 6
        ("5x", 'time: unknown unit "x" in duration "5x"'),
        ("soon", 'time: invalid duration "soon"'),
    ],
)
def test_go_duration_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_go_duration(text)


def test_keep_alive_numbers_are_seconds_and_negative_is_forever() -> None:
    assert parse_keep_alive(0) == 0
    assert parse_keep_alive(90.9) == 90
    assert parse_keep_alive(-1) == float("inf")
    assert parse_keep_alive(None) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "missing request body"),
        (b'{"model":"smol",', "unexpected EOF"),
        (b"[1]", "json: cannot unmarshal array into Go value of type api.GenerateRequest"),
        (
            b'{"prompt":5}',
            "json: cannot unmarshal number into Go struct field GenerateRequest.prompt of type "
            "string",
        ),
    ],
)
def test_bind_json_errors_read_like_gin(body: bytes, message: str) -> None:
    with pytest.raises(HttpError) as caught:
        bind_json(body, "GenerateRequest", {"prompt": "string"})
    assert (caught.value.status, caught.value.message) == (400, message)


def test_headers_like_go() -> None:
    with running_fake_ollama() as server:
        request = b"GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n"
        version = send_raw("127.0.0.1", server.port, request)
        missing = send_raw("127.0.0.1", server.port, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        for index in range(30):  # enough models to push /api/tags past 2 KiB
            server.add_model(f"model-{index}")
        tags = send_raw("127.0.0.1", server.port, b"GET /api/tags HTTP/1.1\r\nHost: x\r\n\r\n")

    assert [name for name, _ in version.headers] == ["Content-Type", "Date", "Content-Length"]
    assert version.header("Server") is None
    assert version.body == b'{"version":"0.32.15"}'
    assert (missing.status_line, missing.body) == ("HTTP/1.1 404 Not Found", b"404 page not found")
    # Go commits to chunked framing once a body outgrows its 2 KiB buffer (19 exchange 5).
    assert (tags.header("Transfer-Encoding"), tags.chunks) == ("chunked", 1)
    assert len(json.loads(tags.body)["models"]) == 31


TRANSCRIPT = """\
# a comment
==== exchange 1: post with a body ====
POST /api/x HTTP/1.1
Content-Length: 11

hello blob

---- response ----
HTTP/1.1 200 OK
Content-Type: application/x-ndjson
Transfer-Encoding: chunked

{"a":1}
{"b":2}
---- end of response (body 16 bytes; ends with \\n; 2 non-empty HTTP chunks) ----
==== exchange 2: head ====
HEAD / HTTP/1.1
Host: h

---- response ----
HTTP/1.1 200 OK
Content-Length: 17

---- end of response (HEAD: no body) ----
==== exchange 3: upload ====
POST /api/blobs/sha256:ab HTTP/1.1
Content-Length: 5

<binary request body: 5 bytes, contents of f.gguf; not saved>
---- response ----
HTTP/1.1 201 Created
Content-Length: 0

---- end of response (body 0 bytes; no trailing \\n) ----
"""


def test_transcript_parser(tmp_path: Path) -> None:
    path = tmp_path / "99-sample.http"
    path.write_text(TRANSCRIPT, encoding="utf-8")

    transcript = parse_transcript(path)

    first, head, upload = transcript.exchanges
    assert transcript.comments == ("# a comment",)
    assert (first.id, first.label, first.request.body) == (
        "99-sample#1",
        "post with a body",
        b"hello blob\n",
    )
    assert first.response.body == b'{"a":1}\n{"b":2}\n'
    assert (first.response.chunk_count, first.response.chunked) == (2, True)
    assert first.response.lines == [b'{"a":1}', b'{"b":2}']
    assert head.response.is_head and head.response.body == b""
    assert (
        head.request.to_bytes(host="127.0.0.1:1") == b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n"
    )
    assert (upload.request.body_saved, upload.request.body) == (False, b"")
    assert upload.response.status == 201


def test_transcript_parser_checks_lengths(tmp_path: Path) -> None:
    path = tmp_path / "98-broken.http"
    path.write_text(TRANSCRIPT.replace("body 16 bytes", "body 15 bytes"), encoding="utf-8")
    with pytest.raises(ValueError, match=r"98-broken\.http exchange 1"):
        parse_transcript(path)
