"""Every error a publish can meet, as a real Ollama v0.32.15 worded it (the recorded
transcripts), is turned into advice that keeps the server's own words."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from ollama import ResponseError

from storyloom_pipeline.publish.advice import advice
from storyloom_pipeline.publish.names import parse_model_name

from fake_ollama.transcripts import parse_transcript

NAME = parse_model_name("storyloom/x:1")
HOST = "http://127.0.0.1:11434"

RECORDED = [
    # transcript, exchange, stage, what the advice must say
    ("15-pull-offline", 1, "create", "cannot reach the registry registry.ollama.ai"),
    ("15-pull-offline", 3, "create", "refused the name storyloom/x:1: an Ollama model name"),
    ("16-blobs", 5, "upload", "a file changed while it was uploaded"),
    ("17-create-files", 9, "create", "cannot parse the Modelfile's TEMPLATE"),
    ("17-create-files", 10, "create", "the server lost an uploaded file"),
    ("17-create-files", 11, "create", "cannot reach the registry"),
    ("18-create-adapter", 6, "create", "one LoRA adapter per model"),
    ("19-create-quantize", 6, "create", "use q4_K_M, q4_K_S or q8_0"),
    ("19-create-quantize", 7, "create", "Ollama quantizes only F16, BF16 or F32 weights"),
    ("19-create-quantize", 8, "create", "Ollama quantizes only F16, BF16 or F32 weights"),
    ("21-push-offline", 1, "push", "cannot reach the registry"),
    ("21-push-offline", 3, "push", "there is no model storyloom/x:1 on the server to push"),
]


def recorded_error(transcripts_dir: Path, name: str, number: int) -> ResponseError:
    """The error as the ollama client raises it: in a stream (HTTP 200) without a status."""
    response = parse_transcript(transcripts_dir / f"{name}.http").exchange(number).response
    lines = [json.loads(line) for line in response.body.splitlines() if line.strip()]
    (error,) = [line["error"] for line in lines if "error" in line]
    return ResponseError(error, -1 if response.status == 200 else response.status)


@pytest.mark.parametrize(("name", "number", "stage", "expected"), RECORDED)
def test_recorded_errors_get_advice(
    transcripts_dir: Path, name: str, number: int, stage: str, expected: str
) -> None:
    error = recorded_error(transcripts_dir, name, number)
    message = advice(error, name=NAME, host=HOST, stage=stage)
    assert expected in message
    assert message.endswith(f"(Ollama: {error.error})")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        # Not recordable offline; the server's errUnauthorized (reference 1.6, 3).
        (ResponseError("unauthorized: access denied"), "add that public key"),
        (ResponseError("pull model manifest: file does not exist"), "FROM model is not on"),
        (ConnectionError("Failed to connect to Ollama"), f"cannot reach Ollama at {HOST}"),
        (httpx.ConnectError("All connection attempts failed"), f"cannot reach Ollama at {HOST}"),
        (httpx.RemoteProtocolError("peer closed"), "stopped answering during push"),
        (ResponseError("model 'x' not found", 404), "not found on the server"),
        (ResponseError("something new", 500), "Ollama failed during push of storyloom/x:1"),
    ],
)
def test_other_errors_get_advice(error: Exception, expected: str) -> None:
    assert expected in advice(error, name=NAME, host=HOST, stage="push")
