"""The read-mostly endpoints: /, version, tags, show, ps, copy, delete, embed."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from fake_ollama.models import parse_name, show_body
from fake_ollama.validation import HttpError, bind_json, go_quote
from fake_ollama.wire import TEXT_UTF8, rfc3339_nano, send_empty, send_json, send_text

if TYPE_CHECKING:
    from fake_ollama.handler import Call


def root(call: Call) -> None:
    send_text(call.wire, 200, "Ollama is running", TEXT_UTF8)  # 01, HEAD too


def version(call: Call) -> None:
    send_json(call.wire, 200, {"version": call.fake.version})  # 02


def tags(call: Call) -> None:
    """Installed models, newest first (03)."""
    models = [
        {
            "name": spec.name.short,
            "model": spec.name.short,
            "modified_at": rfc3339_nano(spec.modified_at_ns),
            "size": spec.size,
            "digest": spec.manifest_digest,
            "details": spec.details(with_lengths=True),
            "capabilities": list(spec.capabilities),
        }
        for spec in call.fake.models
    ]
    send_json(call.wire, 200, {"models": models})


def ps(call: Call) -> None:
    """Loaded runners with their effective num_ctx and an explicit ``size_vram: 0`` (05)."""
    models = [
        {
            "name": spec.name.short,
            "model": spec.name.short,
            "size": spec.ps_size,
            "digest": spec.manifest_digest,
            "details": spec.details(with_lengths=False),
            "expires_at": rfc3339_nano(loaded.expires_at_ns),
            "size_vram": 0,
            "context_length": loaded.num_ctx,
        }
        for spec, loaded in call.fake.loaded()
    ]
    send_json(call.wire, 200, {"models": models})


def show(call: Call) -> None:
    """The non-verbose show (04 exchange 1); ``verbose`` is accepted but changes nothing."""
    body = bind_json(call.request.body, "ShowRequest", {"model": "string", "verbose": "bool"})
    sent = _model_field(body)
    name = parse_name(sent)
    spec = call.fake.model(sent)
    if spec is None:  # the normalized name here, unlike generate (10 exchange 3)
        raise HttpError(404, f"model '{name.short if name else sent}' not found")
    send_json(call.wire, 200, show_body(spec, call.fake.models_dir))


def copy(call: Call) -> None:
    """Copy a model; errors quote names with double quotes (20)."""
    body = bind_json(
        call.request.body, "CopyRequest", {"source": "string", "destination": "string"}
    )
    source, destination = body.get("source") or "", body.get("destination") or ""
    if parse_name(source) is None:
        raise HttpError(400, f"source {go_quote(source)} is invalid")
    target = parse_name(destination)
    if target is None:
        raise HttpError(400, f"destination {go_quote(destination)} is invalid")
    spec = call.fake.model(source)
    if spec is None:
        raise HttpError(404, f"model {go_quote(source)} not found")
    call.fake.install(spec.copy_as(target, time.time_ns()))
    send_empty(call.wire, 200)


def delete(call: Call) -> None:
    """Delete a model; errors quote the name with single quotes (20)."""
    body = bind_json(call.request.body, "DeleteRequest", {"model": "string"})
    sent = _model_field(body)
    if not call.fake.remove_model(sent):
        raise HttpError(404, f"model '{sent}' not found")
    send_empty(call.wire, 200)


def embed(call: Call) -> None:
    """The recorded server ran llama-server without embeddings (24 exchange 9)."""
    body = bind_json(call.request.body, "EmbedRequest", {"model": "string"})
    sent = body.get("model") or ""
    if call.fake.model(sent) is None:
        raise HttpError(404, f"model '{sent}' not found")
    raise HttpError(501, "This server does not support embeddings. Start it with `--embeddings`")


def _model_field(body: dict[str, Any]) -> str:
    sent = body.get("model") or body.get("name") or ""  # "name" is the deprecated spelling
    if not sent:
        raise HttpError(400, "model is required")  # 20 exchange 8
    return sent
