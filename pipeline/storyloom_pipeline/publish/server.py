"""Publishing a Modelfile through an Ollama server: blobs, create, check, push.

1. each local file (the FROM GGUF, the ADAPTER GGUF) is hashed once and uploaded as a blob,
   unless the server already has that digest (`HEAD /api/blobs/<digest>`);
2. the model is created from the structured fields (`plan.CreatePlan`);
3. `/api/show` tells which template the server will really use: since v0.30 a GGUF's own chat
   template can replace the Modelfile's (template.py says how ours avoids that); if it did,
   publish warns;
4. with `push`, the model goes to ollama.com, with a progress bar per layer.

The `ollama` client (0.6) has no blob HEAD and its `create_blob` hashes a file a second time
without progress, so blobs go through the client's own httpx session (same host, headers and
transport), which `ollama.Client` keeps as `_client`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import ollama

from storyloom_pipeline.publish.advice import advice
from storyloom_pipeline.publish.names import ModelName, parse_model_name
from storyloom_pipeline.publish.plan import CreatePlan, PlanError, plan_create
from storyloom_pipeline.publish.progress import Progress, SilentProgress

CHUNK = 1024 * 1024
_BINARY = {"Content-Type": "application/octet-stream"}  # not the client's default JSON type
GO_TEMPLATE_HINT = (
    "the server runs this model with its GGUF's own chat template instead of the Modelfile's "
    "TEMPLATE, so chats are not rendered as Storyloom renders them; set OLLAMA_GO_TEMPLATE=1 "
    "where `ollama serve` runs (Storyloom itself sends finished prompts and is not affected)"
)


class PublishError(Exception):
    """Publishing failed; the message says why and what to do."""


@dataclass(frozen=True)
class Blob:
    path: Path
    digest: str  # sha256:<hex>
    size: int
    uploaded: bool  # False when the server already had it


@dataclass(frozen=True)
class PublishResult:
    model: str  # as created, e.g. molbal/cra-v1-7b:latest
    blobs: tuple[Blob, ...]
    create_statuses: tuple[str, ...]
    push_statuses: tuple[str, ...] = ()
    url: str | None = None  # the model's page after a push to ollama.com
    warnings: tuple[str, ...] = field(default=())


def make_client(host: str | None = None) -> ollama.Client:
    """A client for publishing: a short connect timeout and no read timeout (creating with
    --quantize or pushing gigabytes can be quiet for minutes), no proxy for a local server."""
    return ollama.Client(host=host, timeout=httpx.Timeout(10.0, read=None), trust_env=False)


def publish(
    modelfile: Path,
    name: str,
    *,
    quantize: str | None = None,
    push: bool = False,
    client: ollama.Client | None = None,
    progress: Progress | None = None,
) -> PublishResult:
    """Create `name` from `modelfile` on the Ollama server of `client` (default: OLLAMA_HOST or
    localhost), optionally quantized, and with `push` send it to ollama.com. Everything that
    can be checked locally is checked before the first byte is uploaded."""
    try:
        model_name = parse_model_name(name, for_push=push)
        plan = plan_create(modelfile, quantize=quantize)
    except (PlanError, ValueError) as exc:
        raise PublishError(str(exc)) from exc
    client = client or make_client()
    progress = progress or SilentProgress()
    host = str(_http(client).base_url)
    stage = "upload"
    try:
        blobs = tuple(upload_blob(client, path, progress) for path in plan.files)
        stage = "create"
        statuses = create_model(client, model_name, plan, blobs, progress)
        warnings = check_template(client, model_name, plan)
        for warning in warnings:
            progress.status(f"warning: {warning}")
        if not push:
            return PublishResult(str(model_name), blobs, statuses, warnings=warnings)
        stage = "push"
        pushed = push_model(client, model_name, progress)
    except (ollama.ResponseError, ConnectionError, httpx.HTTPError) as exc:
        raise PublishError(advice(exc, name=model_name, host=host, stage=stage)) from exc
    finally:
        progress.close()
    return PublishResult(
        str(model_name), blobs, statuses, pushed, url=model_name.page, warnings=warnings
    )


def upload_blob(client: ollama.Client, path: Path, progress: Progress) -> Blob:
    """Upload `path` as a blob unless the server has its digest already."""
    size = path.stat().st_size
    digest = sha256_file(path, progress)
    http = _http(client)
    found = http.head(f"/api/blobs/{digest}")
    if found.status_code == 200:
        progress.status(f"{path.name}: already on the server ({digest[:19]})")
        return Blob(path, digest, size, uploaded=False)
    if found.status_code != 404:
        raise ollama.ResponseError(found.text or found.reason_phrase, found.status_code)
    with path.open("rb") as file:
        reader = _ProgressReader(
            file,
            lambda done: progress.transfer(f"upload:{path}", f"uploading {path.name}", done, size),
        )
        sent = http.post(f"/api/blobs/{digest}", content=reader, headers=_BINARY)
    if sent.status_code not in (200, 201):  # 200: someone else uploaded it meanwhile
        raise ollama.ResponseError(_error_text(sent), sent.status_code)
    return Blob(path, digest, size, uploaded=True)


def sha256_file(path: Path, progress: Progress) -> str:
    size, done = path.stat().st_size, 0
    sha = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            sha.update(chunk)
            done += len(chunk)
            progress.transfer(f"hash:{path}", f"hashing {path.name}", done, size)
    return f"sha256:{sha.hexdigest()}"


def create_model(
    client: ollama.Client,
    name: ModelName,
    plan: CreatePlan,
    blobs: tuple[Blob, ...],
    progress: Progress,
) -> tuple[str, ...]:
    digests = {blob.path: blob.digest for blob in blobs}
    arguments = plan.create_arguments(digests)
    statuses = []
    for part in client.create(model=str(name), stream=True, **arguments):
        statuses.append(part.status or "")
        _report(part, progress)
    if statuses[-1:] != ["success"]:
        raise ollama.ResponseError(f"create ended without success: {statuses[-1:]}")
    return tuple(statuses)


def check_template(client: ollama.Client, name: ModelName, plan: CreatePlan) -> tuple[str, ...]:
    """Warnings about what the server will really run (show's `template` is the one chosen)."""
    wanted = plan.modelfile.template
    if wanted is None:
        return ()
    shown = client.show(str(name))
    return () if shown.template == wanted else (GO_TEMPLATE_HINT,)


def push_model(client: ollama.Client, name: ModelName, progress: Progress) -> tuple[str, ...]:
    statuses = []
    for part in client.push(str(name), stream=True):
        statuses.append(part.status or "")
        _report(part, progress)
    if statuses[-1:] != ["success"]:
        raise ollama.ResponseError(f"push ended without success: {statuses[-1:]}")
    return tuple(statuses)


def _report(part: ollama.ProgressResponse, progress: Progress) -> None:
    if part.digest and part.total:
        progress.transfer(
            part.digest, part.status or part.digest[7:19], part.completed or 0, part.total
        )
    elif part.status:
        progress.status(part.status)


def _http(client: ollama.Client) -> httpx.Client:
    return client._client  # see the module docstring


def _error_text(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        return response.text or response.reason_phrase


class _ProgressReader:
    """A file httpx streams with a Content-Length (it asks `fileno()` for the size), reporting
    the bytes read so far."""

    def __init__(self, file: IO[bytes], report: Callable[[int], None]) -> None:
        self._file = file
        self._report = report
        self._done = 0

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self._done += len(data)
        self._report(self._done)
        return data

    def fileno(self) -> int:
        return self._file.fileno()

    def __iter__(self) -> Iterator[bytes]:
        while data := self.read(CHUNK):
            yield data
