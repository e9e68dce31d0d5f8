"""Teacher providers: one prompt in, one completion (text, tokens, cost) out.

Two kinds: any OpenAI-compatible `/chat/completions` endpoint (OpenRouter by default, with its
provider-routing options passed through) over aiohttp, and Ollama through the `ollama`
client. A provider does one request per call and raises `ProviderError` saying whether the
request may be retried; retrying is the runner's job (tenacity), not the provider's.

API keys come only from the environment or, when the optional `keyring` package is installed,
the OS keyring. A key is held in a `Secret` whose repr is masked, and every error text a provider
produces passes through `redact`, so a key cannot reach a log, the journal or the dataset.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import httpx

from storyloom_pipeline.retry_after import parse_retry_after

OPENROUTER_URL = "https://openrouter.ai/api/v1"
DEFAULT_MODEL = "deepseek/deepseek-chat"
DEFAULT_KEY_ENV = "OPENROUTER_API_KEY"
KEYRING_SERVICE = "storyloom"
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
_MASK = "***"


class Secret:
    """A string that never shows itself in a repr, str or f-string."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


def resolve_api_key(env_var: str = DEFAULT_KEY_ENV) -> Secret | None:
    """The key from `env_var`, else from the OS keyring (service "storyloom", user `env_var`)
    when the optional `keyring` package is installed; None when neither has one."""
    value = os.environ.get(env_var, "").strip()
    if not value:
        try:
            import keyring  # optional: not a dependency of the pipeline
        except ImportError:
            return None
        try:
            value = (keyring.get_password(KEYRING_SERVICE, env_var) or "").strip()
        except Exception:  # a keyring without a backend raises its own errors
            return None
    return Secret(value) if value else None


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None  # USD; None when the provider does not say and no prices are set


class ProviderError(Exception):
    """A failed request. `retryable` for 429/5xx/timeouts/dropped connections; `retry_after`
    is the server's Retry-After in seconds, when it sent one."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Provider(Protocol):
    model: str

    async def complete(self, prompt: str) -> Completion: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class Prices:
    """USD per million tokens, for providers whose `usage` has no cost."""

    prompt: float = 0.0
    completion: float = 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt + completion_tokens * self.completion) / 1e6


def redact(text: str, *secrets: Secret | None) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret.reveal(), _MASK)
    return text


def _environment_proxy(url: str) -> str | None:
    """The proxy the environment names for `url` (HTTPS_PROXY etc., NO_PROXY honoured)."""
    parts = urllib.parse.urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies().get(parts.scheme)


@dataclass
class OpenAICompatibleProvider:
    """Chat completions at `base_url` (e.g. OpenRouter, vLLM, llama.cpp server, LiteLLM)."""

    model: str = DEFAULT_MODEL
    base_url: str = OPENROUTER_URL
    api_key: Secret | None = None
    timeout: float = 120.0
    concurrency: int = 16
    routing: dict[str, Any] | None = None  # OpenRouter's `provider` object
    options: dict[str, Any] = field(default_factory=dict)  # temperature, max_tokens, ...
    prices: Prices | None = None
    _session: aiohttp.ClientSession | None = field(default=None, init=False, repr=False)

    # aiohttp rather than httpx: httpx/httpcore's own work per request (about 1.2-1.5 ms of
    # CPU) kept bench P4 above its target. One session, one pool of `concurrency` keep-alive
    # connections. The environment's proxy is looked up once here rather than through
    # `trust_env=True`, which would cost two thread-pool round trips per request (a ~/.netrc
    # read and the proxy lookup), and whose netrc credentials would clash with the
    # Authorization header.

    def _open(self) -> aiohttp.ClientSession:
        self._url = self.base_url.rstrip("/") + "/chat/completions"
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "storyloom-pipeline",
            "X-Title": "Storyloom",
        }
        if self.api_key:
            self._headers["Authorization"] = f"Bearer {self.api_key.reveal()}"
        self._timeout = aiohttp.ClientTimeout(total=self.timeout)
        self._proxy = _environment_proxy(self._url)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max(1, self.concurrency))
        )
        return self._session

    def _body(self, prompt: str) -> bytes:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            **self.options,
        }
        if self.routing:
            body["provider"] = self.routing
        if "openrouter.ai" in self.base_url:
            body["usage"] = {"include": True}  # OpenRouter then reports the cost of the call
        return json.dumps(body, ensure_ascii=False).encode()

    async def complete(self, prompt: str) -> Completion:
        session = self._session or self._open()
        try:
            async with session.post(
                self._url,
                data=self._body(prompt),
                headers=self._headers,
                timeout=self._timeout,
                proxy=self._proxy,
            ) as response:
                status = response.status
                content = await response.read()
                retry_after = response.headers.get("Retry-After")
        except TimeoutError as exc:  # asyncio.TimeoutError, aiohttp's timeouts included
            raise ProviderError(f"timed out after {self.timeout:g}s", retryable=True) from exc
        except aiohttp.InvalidURL as exc:
            message = redact(f"{type(exc).__name__}: {exc}", self.api_key)
            raise ProviderError(message, retryable=False) from exc
        except aiohttp.ClientError as exc:  # dropped connections, broken replies
            message = redact(f"{type(exc).__name__}: {exc}", self.api_key)
            raise ProviderError(message, retryable=True) from exc
        if status != 200:
            detail = redact(content.decode("utf-8", "replace")[:300], self.api_key)
            raise ProviderError(
                f"HTTP {status}: {detail}",
                retryable=status in RETRYABLE_STATUS,
                retry_after=parse_retry_after(retry_after),
            )
        return self._completion(content)

    def _completion(self, content: bytes) -> Completion:
        try:
            data = json.loads(content)
            if "error" in data:  # OpenRouter reports some upstream failures under HTTP 200
                error = data["error"]
                code = error.get("code") if isinstance(error, dict) else None
                raise ProviderError(
                    redact(f"error in reply: {str(error)[:300]}", self.api_key),
                    retryable=not isinstance(code, int) or code in RETRYABLE_STATUS,
                )
            text = data["choices"][0]["message"]["content"] or ""
            usage = data.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ProviderError(f"malformed reply: {exc!r}", retryable=True) from exc
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        completion_tokens = int(usage.get("completion_tokens") or 0)
        cost = usage.get("cost")
        if cost is None and self.prices is not None:
            cost = self.prices.cost(prompt_tokens, completion_tokens)
        return Completion(
            text=text,
            model=str(data.get("model") or self.model),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost=float(cost) if cost is not None else None,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@dataclass
class OllamaProvider:
    """A model on an Ollama server, through the native API of the `ollama` client.

    `host` None means the client's default (OLLAMA_HOST, else localhost:11434). Local models
    cost nothing, so the cost is 0 unless prices are given."""

    model: str
    host: str | None = None
    timeout: float = 600.0
    options: dict[str, Any] = field(default_factory=dict)  # Ollama options: num_ctx, ...
    prices: Prices | None = None
    _client: Any = field(default=None, init=False, repr=False)

    async def complete(self, prompt: str) -> Completion:
        import ollama

        if self._client is None:
            self._client = ollama.AsyncClient(host=self.host, timeout=self.timeout)
        try:
            response = await self._client.chat(
                model=self.model,
                messages=[{"role": "user", "content": prompt}],
                options=self.options or None,
                stream=False,
            )
        except ollama.ResponseError as exc:
            status = exc.status_code
            raise ProviderError(
                f"Ollama HTTP {status}: {exc.error[:300]}",
                retryable=status in RETRYABLE_STATUS or status < 0,
            ) from exc
        except httpx.TimeoutException as exc:
            raise ProviderError(f"timed out after {self.timeout:g}s", retryable=True) from exc
        except (httpx.TransportError, ConnectionError) as exc:
            raise ProviderError(f"{type(exc).__name__}: {exc}", retryable=True) from exc
        prompt_tokens = response.prompt_eval_count or 0
        completion_tokens = response.eval_count or 0
        prices = self.prices or Prices()
        return Completion(
            text=response.message.content or "",
            model=response.model or self.model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost=prices.cost(prompt_tokens, completion_tokens),
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


class MissingApiKey(ValueError):
    pass


def open_provider(
    kind: str,
    model: str,
    *,
    base_url: str | None = None,
    api_key_env: str = DEFAULT_KEY_ENV,
    timeout: float = 120.0,
    concurrency: int = 16,
    options: dict[str, Any] | None = None,
    prices: Prices | None = None,
    routing: dict[str, Any] | None = None,
) -> Provider:
    """A model on Ollama (`kind` "ollama"; `base_url` is then its host, default OLLAMA_HOST)
    or behind an OpenAI-compatible endpoint (`base_url`, default OpenRouter) with its key from
    `api_key_env` or the keyring. `MissingApiKey` when OpenRouter would be asked without one."""
    if kind == "ollama":
        return OllamaProvider(
            model=model, host=base_url, timeout=timeout, options=options or {}, prices=prices
        )
    base_url = base_url or OPENROUTER_URL
    api_key = resolve_api_key(api_key_env)
    if api_key is None and "openrouter.ai" in base_url:
        raise MissingApiKey(
            f"no API key; set {api_key_env} (or store it in the OS keyring under service "
            f"'{KEYRING_SERVICE}')"
        )
    return OpenAICompatibleProvider(
        model=model,
        base_url=base_url,
        api_key=api_key,
        timeout=timeout,
        concurrency=concurrency,
        routing=routing,
        options=options or {},
        prices=prices,
    )
