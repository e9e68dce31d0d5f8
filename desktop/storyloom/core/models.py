"""The models Ollama has: list (tags + show + ps), pull with progress, delete, preload.

`ModelManager` works over the same `ollama.AsyncClient` as the backend. Pulling is an async
iterator of `PullProgress`; to cancel a pull, cancel the task that iterates it: that closes the
HTTP stream, and Ollama stops downloading (a later pull resumes the partial download).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import ollama

# What the model manager offers with one click: the published Storyloom models.
STORYLOOM_MODELS: tuple[tuple[str, str], ...] = (
    ("molbal/cra-v1-7b", "Qwen2.5-7B based: the everyday model"),
    ("molbal/cra-v1-32b", "Qwen2.5-32B based: slower, needs a large GPU"),
    ("molbal/cra-v1-guided-7b", "follows a one-line “what happens next” guidance"),
)
DEFAULT_MODEL = STORYLOOM_MODELS[0][0]
# Listing is local and fast; a server that takes longer than this is stuck.
LIST_TIMEOUT = 15.0
# The speed estimate forgets with this time constant (seconds): steady enough to read, quick
# enough to follow a download that speeds up or slows down.
RATE_TIME_CONSTANT = 5.0
KV_BYTES_PER_VALUE = 2  # Ollama's default f16 KV cache


def model_key(name: str) -> str:
    """The name as Ollama compares it: case-insensitive, with the default tag `latest`."""
    name = name.strip().lower()
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One installed model as the model manager shows it."""

    name: str  # as /api/tags names it, e.g. "molbal/cra-v1-7b:latest"
    size: int = 0  # bytes on disk
    family: str = ""
    parameter_size: str = ""
    quantization: str = ""
    context_length: int | None = None  # trained context (<arch>.context_length in /api/show)
    kv_bytes_per_token: int | None = None  # KV-cache memory per token of num_ctx
    capabilities: tuple[str, ...] = ()
    loaded_context: int | None = None  # num_ctx of the loaded runner (/api/ps); None: unloaded

    @property
    def key(self) -> str:
        return model_key(self.name)


class ModelError(Exception):
    """A model operation failed; the message is for the writer."""


@dataclass(frozen=True, slots=True)
class PullProgress:
    status: str  # Ollama's own words: "pulling manifest", "pulling 2bada8a74506", "success"
    completed: int = 0  # bytes of all layers seen so far
    total: int = 0
    fraction: float | None = None  # of the whole download; None: not known yet
    bytes_per_second: float | None = None
    eta_seconds: float | None = None

    @property
    def done(self) -> bool:
        return self.status == "success"


@dataclass
class TransferEstimator:
    """Turns Ollama's per-layer progress lines into overall bytes, speed and time left.

    Pure: the caller passes the time, so the numbers can be tested exactly. Layers are summed
    by digest (Ollama reports each layer separately, and repeats a layer's total on every line).
    """

    rate: float | None = None
    _layers: dict[str, tuple[int, int]] = field(default_factory=dict)  # digest: (done, total)
    _last: tuple[float, int] | None = None  # (time, completed) of the previous rate sample
    # Layers are announced one after another, so the total grows; the bar must not go back.
    _shown: float = 0.0

    def update(
        self,
        now: float,
        status: str,
        digest: str | None = None,
        total: int | None = None,
        completed: int | None = None,
    ) -> PullProgress:
        if digest and total:
            self._layers[digest] = (min(completed or 0, total), total)
        done = sum(d for d, _ in self._layers.values())
        size = sum(t for _, t in self._layers.values())
        self._sample(now, done)
        eta = None
        if self.rate and size:
            eta = max(0.0, (size - done) / self.rate)
        fraction = None
        if status == "success":
            done, eta, fraction = size, 0.0, 1.0
        elif size:
            fraction = self._shown = max(self._shown, min(1.0, done / size))
        return PullProgress(status, done, size, fraction, self.rate, eta)

    def _sample(self, now: float, completed: int) -> None:
        if self._last is None:
            self._last = (now, completed)
            return
        then, before = self._last
        elapsed = now - then
        if elapsed <= 0 or completed <= before:
            return  # no new bytes or no time: nothing to learn yet
        speed = (completed - before) / elapsed
        # Time-weighted smoothing, so the estimate does not depend on how often lines arrive.
        weight = 1 - math.exp(-elapsed / RATE_TIME_CONSTANT)
        self.rate = speed if self.rate is None else self.rate + weight * (speed - self.rate)
        self._last = (now, completed)


class ModelManager:
    def __init__(self, client: ollama.AsyncClient) -> None:
        self.client = client

    async def list_models(self) -> list[ModelInfo]:
        """Installed models, in /api/tags order, with their details and whether loaded."""
        async with _server_errors(), asyncio.timeout(LIST_TIMEOUT):
            tags, running = await asyncio.gather(self.client.list(), self.client.ps())
            loaded = {model_key(m.model or ""): m.context_length for m in running.models}
            names = [m.model or "" for m in tags.models]
            shown = await asyncio.gather(*(self._show(name) for name in names))
        return [
            _info(tag, show, loaded.get(model_key(name)))
            for tag, name, show in zip(tags.models, names, shown, strict=True)
        ]

    async def info(self, name: str) -> ModelInfo | None:
        """One model's details (None when it is not installed), without listing the others."""
        async with _server_errors(), asyncio.timeout(LIST_TIMEOUT):
            show = await self._show(name)
        if show is None:
            return None
        return _info(None, show, None, name)

    async def pull(self, name: str) -> AsyncIterator[PullProgress]:
        """Download `name`, yielding progress; raises ModelError when the pull fails."""
        estimator = TransferEstimator()
        async with _server_errors(pulling=name):
            stream = await self.client.pull(name, stream=True)
            async with aclosing(stream):  # type: ignore[type-var]
                async for part in stream:  # type: ignore[union-attr]
                    yield estimator.update(
                        time.monotonic(), part.status or "", part.digest, part.total, part.completed
                    )

    async def delete(self, name: str) -> None:
        async with _server_errors(), asyncio.timeout(LIST_TIMEOUT):
            await self.client.delete(name)

    async def preload(self, name: str, num_ctx: int, keep_alive: str | int | None) -> None:
        """Load `name` into memory now, so the first continuation does not wait for it.

        The num_ctx must be the one the continuations will send: Ollama reloads a model whose
        context size changes, which would waste the preload. No timeout: loading a large model
        from a slow disk can take minutes.
        """
        async with _server_errors():
            await self.client.generate(
                model=name, prompt="", keep_alive=keep_alive, options={"num_ctx": num_ctx}
            )

    async def _show(self, name: str) -> ollama.ShowResponse | None:
        try:
            return await self.client.show(name)
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                return None
            raise


def _info(
    tag: Any, show: ollama.ShowResponse | None, loaded_context: int | None, name: str = ""
) -> ModelInfo:
    details = (tag.details if tag is not None else None) or (show.details if show else None)
    model_info: Mapping[str, Any] = (show.modelinfo or {}) if show is not None else {}
    return ModelInfo(
        name=(tag.model if tag is not None else None) or name,
        size=int(tag.size or 0) if tag is not None else 0,
        family=(details.family if details else None) or "",
        parameter_size=(details.parameter_size if details else None) or "",
        quantization=(details.quantization_level if details else None) or "",
        context_length=_arch_value(model_info, "context_length"),
        kv_bytes_per_token=kv_bytes_per_token(model_info),
        capabilities=tuple(show.capabilities or ()) if show is not None else (),
        loaded_context=loaded_context,
    )


def _arch_value(model_info: Mapping[str, Any], key: str) -> int | None:
    """`<architecture>.<key>` from /api/show's model_info, e.g. qwen2.context_length."""
    value = model_info.get(f"{model_info.get('general.architecture', '')}.{key}")
    return value if isinstance(value, int) and value > 0 else None


def kv_bytes_per_token(model_info: Mapping[str, Any]) -> int | None:
    """KV-cache bytes one token of context takes: K and V, per layer, per KV head (f16)."""
    layers = _arch_value(model_info, "block_count")
    width = _arch_value(model_info, "embedding_length")
    heads = _arch_value(model_info, "attention.head_count")
    kv_heads = _arch_value(model_info, "attention.head_count_kv") or heads
    if not (layers and width and heads and kv_heads):
        return None
    return 2 * layers * kv_heads * (width // heads) * KV_BYTES_PER_VALUE


@asynccontextmanager
async def _server_errors(*, pulling: str | None = None) -> AsyncIterator[None]:
    """Turns the client's errors into ModelError with a message for the writer."""
    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout, ConnectionError):
        raise ModelError("Ollama is not running, so models cannot be listed or pulled.") from None
    except TimeoutError:
        raise ModelError("Ollama did not answer in time.") from None
    except httpx.TransportError as exc:
        raise ModelError(f"The connection to Ollama broke: {exc!r}") from None
    except ollama.ResponseError as exc:
        raise ModelError(_explain(exc.error, pulling)) from None


def _explain(error: str, pulling: str | None) -> str:
    if pulling and "file does not exist" in error:
        return f"Ollama's library has no model called “{pulling}”. Check the name."
    if pulling and ("no such host" in error or "dial tcp" in error):
        return f"Ollama could not reach its model library to download “{pulling}”: {error}"
    return f"Ollama answered: {error}"
