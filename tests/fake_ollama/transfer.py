"""Pull, push, create and the blob store: Ollama's progress streams.

A progress stream is NDJSON of ``{"status", "digest"?, "total"?, "completed"?}``. An error before
the first line gets a real status code; after it, a last ``{"error"}`` line under HTTP 200 (15,
17, 21). With ``stream:false`` only the last object (or the error) comes back as
``application/json`` without a charset (15 exchange 2, 17 exchange 6).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from fake_ollama.models import (
    CHATML_STOPS,
    SMOL_TEMPLATE,
    ModelName,
    ModelSpec,
    Weights,
    params_layer,
    parse_name,
    text_layer,
)
from fake_ollama.validation import HttpError, bind_json, go_quote, valid_relative_path
from fake_ollama.wire import ClientGone, NdjsonStream, send_empty, send_json

if TYPE_CHECKING:
    from fake_ollama.handler import Call

_BLOB_DIGEST = re.compile(r"sha256[:-]([0-9a-fA-F]{64})")
QUANTIZE_TYPES = {"Q4_K_S": "Q4_K_S", "Q4_K_M": "Q4_K_M", "Q4_K": "Q4_K_M", "Q8_0": "Q8_0"}
FLOAT_TYPES = ("F32", "F16", "BF16")
_BITS = {"F32": 32.0, "F16": 16.0, "BF16": 16.0, "Q8_0": 8.55, "Q4_K_M": 4.85, "Q4_K_S": 4.58}
NEITHER_FROM_NOR_FILES = "neither 'from' or 'files' was specified"  # 17 exchange 7
QUANTIZE_SOURCE = "quantization is only supported for F16, BF16 and F32 models"  # 19
PROGRESS_STEPS = 4  # "completed" lines per large layer
_STREAMED = {"stream": "bool", "insecure": "bool", "model": "string"}


class StreamFailed(Exception):
    """A progress stream ends in error; ``status`` is used only if no line went out yet."""

    def __init__(self, message: str, status: int = 500):
        super().__init__(message)
        self.message = message
        self.status = status


def sha256_digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def derived_digest(kind: str, text: str) -> str:
    """A stable stand-in for a digest the fake cannot compute (a converted GGUF layer)."""
    return hashlib.sha256(f"fake-ollama:{kind}:{text}".encode()).hexdigest()


def blob_hex(digest: str) -> str | None:
    """The hex part of ``sha256:<64 hex>`` or ``sha256-<64 hex>``, else None (16 exchange 7)."""
    match = _BLOB_DIGEST.fullmatch(digest)
    return match.group(1).lower() if match else None


# --------------------------------------------------------------------------------------------
# Progress streams
# --------------------------------------------------------------------------------------------


def run_progress(call: Call, *, stream: bool, model: str, events: Iterator[dict[str, Any]]) -> None:
    wire = call.wire
    out = NdjsonStream(wire) if stream else None
    latest: dict[str, Any] = {}
    try:
        for index, event in enumerate(events):
            if index:
                wire.wait(call.fake.progress_delay)
            if out is not None:
                out.send(event)
            latest = event
    except StreamFailed as failure:
        if out is not None:
            out.fail(failure.message, failure.status)
        else:
            send_json(wire, failure.status, {"error": failure.message}, charset=False)
        return
    except ClientGone:  # Ollama cancels a pull whose client went away (reference 1.5)
        call.fake.record_disconnect(call.request.path, model, out.lines_sent if out else 0)
        raise
    if out is not None:
        out.finish()
    else:
        send_json(wire, 200, latest, charset=False)


def _name(body: dict[str, Any]) -> tuple[str, ModelName]:
    sent = body.get("model") or body.get("name") or ""
    name = parse_name(sent)
    if name is None:
        raise HttpError(400, "invalid model name")  # 15 exchange 3
    return sent, name


def _offline(call: Call, host: str, url: str) -> str:
    return f"{url}: dial tcp: lookup {host} on {call.fake.resolver}: no such host"


def _layer_progress(verb: str, digest: str, size: int) -> Iterator[dict[str, Any]]:
    line = {"status": f"{verb} {digest[:12]}", "digest": f"sha256:{digest}", "total": size}
    yield line
    steps = PROGRESS_STEPS if size > 1_000_000 else 1
    for step in range(1, steps + 1):
        yield line | {"completed": size * step // steps}


# --------------------------------------------------------------------------------------------
# Pull and push
# --------------------------------------------------------------------------------------------


def pull(call: Call) -> None:
    body = bind_json(call.request.body, "PullRequest", _STREAMED)
    sent, name = _name(body)
    stream = body.get("stream") is not False
    run_progress(call, stream=stream, model=sent, events=pull_events(call, name))


def pull_events(call: Call, name: ModelName) -> Iterator[dict[str, Any]]:
    """``pulling manifest``, per-layer progress, ``verifying sha256 digest``, ``writing
    manifest``, ``success``; offline it fails right after the first line (15)."""
    fake = call.fake
    yield {"status": "pulling manifest"}
    if fake.offline:
        manifest = f"https://{name.host}/v2/{name.namespace}/{name.model}/manifests/{name.tag}"
        url = f"pull model manifest: Get {go_quote(manifest)}"
        raise StreamFailed(_offline(call, name.host, url))
    remote = fake.remote_model(name)
    if remote is None:
        raise StreamFailed("pull model manifest: file does not exist")
    for digest, size in remote.layers():
        yield from _layer_progress("pulling", digest, size)
    yield {"status": "verifying sha256 digest"}
    yield {"status": "writing manifest"}
    fake.install(remote.copy_as(name, time.time_ns()))
    yield {"status": "success"}


def push(call: Call) -> None:
    body = bind_json(call.request.body, "PushRequest", _STREAMED)
    sent, name = _name(body)
    stream = body.get("stream") is not False
    run_progress(call, stream=stream, model=sent, events=push_events(call, name))


def push_events(call: Call, name: ModelName) -> Iterator[dict[str, Any]]:
    """Offline, push fails at the first blob HEAD, before any auth check (21)."""
    fake = call.fake
    yield {"status": "retrieving manifest"}
    spec = fake.model(name.qualified)
    if spec is None:
        yield {"status": "couldn't retrieve manifest"}
        manifest = f"{name.host}/{name.namespace}/{name.model}/{name.tag}"
        path = f"{fake.models_dir}/manifests/{manifest}"
        raise StreamFailed(f"open {path}: no such file or directory")
    layers = spec.layers()
    if fake.offline:
        blob = f"https://{name.host}/v2/{name.namespace}/{name.model}/blobs/sha256:{layers[0][0]}"
        raise StreamFailed(_offline(call, name.host, f"Head {go_quote(blob)}"))
    if fake.registry_account is not None and name.namespace != fake.registry_account:
        # The registry refuses the server's key at the first blob: errUnauthorized (reference
        # 1.6 and 3; not recordable offline, where 21 fails at the DNS lookup first).
        raise StreamFailed("unauthorized: access denied")
    for digest, size in layers:
        yield from _layer_progress("pushing", digest, size)
    yield {"status": "pushing manifest"}
    yield {"status": "success"}


# --------------------------------------------------------------------------------------------
# Create
# --------------------------------------------------------------------------------------------

_CREATE_FIELDS = {
    "model": "string",
    "from": "string",
    "files": "map[string]string",
    "adapters": "map[string]string",
    "template": "string",
    "system": "string",
    "parameters": "map[string]interface {}",
    "quantize": "string",
    "stream": "bool",
}


def create(call: Call) -> None:
    body = bind_json(call.request.body, "CreateRequest", _CREATE_FIELDS)
    sent, name = _name(body)
    paths = [*(body.get("files") or {}), *(body.get("adapters") or {})]
    if not all(valid_relative_path(path) for path in paths):
        raise HttpError(400, "file path must be relative")  # 17 exchange 8, checked up front
    stream = body.get("stream") is not False
    run_progress(call, stream=stream, model=sent, events=create_events(call, name, body))


def create_events(call: Call, name: ModelName, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The statuses of 17, 18 and 19, in their order, ending with the model installed."""
    fake = call.fake
    files: dict[str, str] = body.get("files") or {}
    adapters: dict[str, str] = body.get("adapters") or {}
    source = body.get("from") or ""
    if not source and not files:
        raise StreamFailed(NEITHER_FROM_NOR_FILES, 400)
    if len(adapters) > 1:
        raise StreamFailed("only one adapter is currently supported", 400)  # 18 exchange 6
    level = (body.get("quantize") or "").upper()
    base = fake.model(source) if source else None
    if source and base is None:  # Ollama pulls a missing base (17 exchange 11)
        source_name = parse_name(source)
        if source_name is None:
            raise StreamFailed("invalid model name", 400)
        yield from pull_events(call, source_name)
        base = fake.model(source)
    if base is not None and level and base.weights.quantization_level not in FLOAT_TYPES:
        raise StreamFailed(QUANTIZE_SOURCE)  # 19 exchange 8: a 500 before any line
    if files or adapters:
        yield {"status": "parsing GGUF"}
    weights = base.weights if base is not None else None
    if files:
        weights = _blob_or_fail(call, next(iter(files.values()))).weights
    assert weights is not None
    if level:
        weights = _quantized(weights, level)  # 19 exchanges 6 and 7 fail here
    if files:
        yield {"status": "verifying conversion"}
    template = body.get("template") or ""
    if template and (problem := template_error(template)):
        raise StreamFailed(f"template error: {problem}", 400)  # 17 exchange 9
    adapter = _blob_or_fail(call, next(iter(adapters.values()))) if adapters else None

    system = body.get("system") or ""
    licenses = _licenses(body.get("license"))
    yield _layer_status(call, weights.layer_digest)
    if base is not None:  # inherited layers come first, then the new ones (18)
        inherited = ["" if template else base.template, "" if system else base.system]
        for text in [*inherited, *(() if licenses else base.licenses)]:
            if text:
                yield _layer_status(call, text_layer(text)[0])
    adapter_hex = blob_hex(next(iter(adapters.values()))) if adapters else None
    adapter_hex = adapter_hex or (base.adapter if base is not None else None)
    if adapter_hex:
        yield _layer_status(call, adapter_hex)
    parameters = dict(base.parameters) if base is not None else {}
    if template:
        yield _layer_status(call, text_layer(template)[0])
    elif base is None:  # a GGUF's chat template matched to ChatML, with its stops (19)
        yield {"status": "using autodetected template chatml"}
        template, parameters = SMOL_TEMPLATE, {"stop": list(CHATML_STOPS)}
    if system:
        yield _layer_status(call, text_layer(system)[0])
    for text in licenses:  # after SYSTEM and before the params, as create.go sets them
        yield _layer_status(call, text_layer(text)[0])
    parameters |= body.get("parameters") or {}
    if parameters:
        yield _layer_status(call, params_layer(parameters)[0])
    yield {"status": "writing manifest"}
    spec = ModelSpec(
        name,
        weights,
        template=template or (base.template if base else ""),
        system=system or (base.system if base else ""),
        licenses=licenses or (base.licenses if base else ()),
        parameters=parameters,
        capabilities=base.capabilities if base else ("completion",),
        parent_model=base.name.short if base else "",
        adapter=adapter_hex,
        adapter_size=adapter.size if adapter else (base.adapter_size if base else 0),
        modified_at_ns=time.time_ns(),
    )
    for digest, size in spec.layers():
        fake.add_blob(digest=digest, size=size, weights=weights)
    fake.install(spec)
    yield {"status": "success"}


def _licenses(value: Any) -> tuple[str, ...]:
    """CreateRequest.License is a string or a list of strings; empty ones make no layer."""
    texts = value if isinstance(value, list) else [value]
    return tuple(text for text in texts if isinstance(text, str) and text)


def _blob_or_fail(call: Call, digest: str) -> Any:
    hex_digest = blob_hex(digest) or digest
    blob = call.fake.blob(hex_digest)
    if blob is None:  # 17 exchange 10
        path = f"{call.fake.models_dir}/blobs/sha256-{hex_digest}"
        raise StreamFailed(f"open {path}: no such file or directory")
    return blob


def _quantized(weights: Weights, level: str) -> Weights:
    target = QUANTIZE_TYPES.get(level)
    if target is None:
        supported = "F32, F16, Q4_K_S, Q4_K_M, Q8_0"
        raise StreamFailed(
            f"unsupported quantization type {level} - supported types are {supported}"
        )
    if weights.quantization_level not in FLOAT_TYPES:
        raise StreamFailed(QUANTIZE_SOURCE)
    ratio = _BITS[target] / _BITS[weights.quantization_level]
    return dataclasses.replace(
        weights,
        quantization_level=target,
        layer_digest=derived_digest("quantize", f"{weights.layer_digest}:{target}"),
        layer_size=int(weights.layer_size * ratio),
    )


def _layer_status(call: Call, digest: str) -> dict[str, str]:
    verb = "using existing" if call.fake.known_layer(digest) else "creating new"
    return {"status": f"{verb} layer sha256:{digest}"}


def template_error(template: str) -> str | None:
    """Go's text/template parse error for an action that is never closed (17 exchange 9)."""
    position = 0
    while (start := template.find("{{", position)) >= 0:
        end = template.find("}}", start + 2)
        if end < 0:
            return f"template: :{template.count(chr(10), 0, start) + 1}: unclosed action"
        position = end + 2
    return None


# --------------------------------------------------------------------------------------------
# Blobs
# --------------------------------------------------------------------------------------------


def _digest_param(call: Call) -> tuple[str, str]:
    param = call.request.path.removeprefix("/api/blobs/")
    hex_digest = blob_hex(param)
    if hex_digest is None:
        raise HttpError(400, "invalid digest format")  # 16 exchanges 7 and 8
    return param, hex_digest


def blob_head(call: Call) -> None:
    """200 with only a Date header, or a 404 whose body HEAD leaves out (16)."""
    param, hex_digest = _digest_param(call)
    if call.fake.blob(hex_digest) is None:
        raise HttpError(404, f"blob {go_quote(param)} not found")
    send_empty(call.wire, 200)


def blob_post(call: Call) -> None:
    """Store an upload after checking its digest (16 exchange 5); 201 when created."""
    param, hex_digest = _digest_param(call)
    actual = sha256_digest(call.request.body)
    if actual != f"sha256:{hex_digest}":
        raise HttpError(400, f"digest mismatch, expected {go_quote(param)}, got {go_quote(actual)}")
    call.fake.add_blob(call.request.body)
    send_empty(call.wire, 201)


def answer_existing_blob(wire: Any) -> None:
    """The blob is there already: 200 and ``Connection: close`` at once (16 exchange 4)."""
    send_empty(wire, 200, close=True)
