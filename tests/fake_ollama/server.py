"""FakeOllama: a test double of the Ollama v0.32.15 HTTP server, driven by the real client.

It listens on 127.0.0.1 (an OS-chosen port) in a background thread, answers with the bytes a real
Ollama sends (see ``wire``), lets a test script what each model says (``Script``), and records
every request, every client disconnect and every generation so a test can assert on them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Self

from fake_ollama import transfer
from fake_ollama.handler import FakeHTTPServer
from fake_ollama.models import (
    MODELS_DIR,
    SMOL_WEIGHTS,
    ModelName,
    ModelSpec,
    Weights,
    parse_name,
    smol,
)
from fake_ollama.records import Recorder
from fake_ollama.scripts import DEFAULT_REPLY, PromptInfo, Script, ScriptSource, estimate_tokens
from fake_ollama.validation import DEFAULT_KEEP_ALIVE

FOREVER_NS = 2**63 - 1  # keep_alive < 0: Go adds the largest Duration (expires in 2318)


@dataclass
class Blob:
    """A blob in the store. ``weights`` is what create sees when it is used as a GGUF."""

    size: int
    weights: Weights


@dataclass
class Loaded:
    num_ctx: int
    expires_at_ns: int


class FakeOllama(Recorder):
    """A fake ``ollama serve`` for tests; see the package docstring for a tour.

    Use it as a context manager (``with FakeOllama() as server:``) or call ``start()`` and
    ``stop()``. It starts with one model, the recording's ``smol``.
    """

    def __init__(
        self,
        *,
        models: Sequence[ModelSpec] | None = None,
        script: ScriptSource | str | Sequence[str] | None = None,
        default_num_ctx: int = 4096,
        offline: bool = False,
        token_counter: Callable[[str], int] = estimate_tokens,
        progress_delay: float = 0.0,
        load_delay: float = 0.0,
        version: str = "0.32.15",
        models_dir: str = MODELS_DIR,
    ) -> None:
        super().__init__()
        self.default_num_ctx = default_num_ctx  # VRAM-tiered default on a CPU box (README)
        self.offline = offline  # pull/push fail at the DNS lookup as in 15 and 21
        # The ollama.com account the server's key belongs to: a push to another namespace is
        # refused ("" refuses every push). None: every push is accepted.
        self.registry_account: str | None = None
        self.token_counter = token_counter
        self.progress_delay = progress_delay  # seconds between pull/push/create lines
        self.load_delay = load_delay  # seconds a cold load takes (0.8 s for smol, 12)
        self.version = version
        self.models_dir = models_dir
        self.resolver = "198.51.100.53:53"
        self.upload_weights = SMOL_WEIGHTS  # what an uploaded GGUF blob is taken to contain
        self.internal_errors: list[BaseException] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._order = itertools.count()
        self._models: dict[str, tuple[int, ModelSpec]] = {}
        self._remote: dict[str, ModelSpec] = {}
        self._loaded: dict[str, Loaded] = {}
        self._blobs: dict[str, Blob] = {}
        self._scripts: dict[str | None, ScriptSource] = {None: Script(DEFAULT_REPLY)}
        self._queued: dict[str | None, deque[ScriptSource]] = {}
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._httpd: FakeHTTPServer | None = None
        self._thread: threading.Thread | None = None
        if script is not None:
            self.set_script(script)
        for spec in [smol(time.time_ns())] if models is None else models:
            self.install(spec)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = FakeHTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},  # stop() waits for one poll
            name=f"fake-ollama-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop at once, also while a stream is in flight: streams see ServerStopping, every
        open connection is shut down, and no handler is still running when this returns."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        with self._lock:
            connections = dict(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for handler in connections.values():
            handler.join(timeout=2)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeOllama is not running; call start() first")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, for ``ollama.Client(host=...)`` or ``OLLAMA_HOST``."""
        return f"http://127.0.0.1:{self.port}"

    # -- models --------------------------------------------------------------------------------

    def add_model(
        self,
        name: str,
        *,
        family: str | None = None,
        parameter_size: str | None = None,
        quantization_level: str | None = None,
        context_length: int | None = None,
        embedding_length: int | None = None,
        template: str | None = None,
        system: str | None = None,
        parameters: dict[str, Any] | None = None,
        capabilities: Sequence[str] | None = None,
        size: int | None = None,
        digest: str | None = None,
        modified_at_ns: int | None = None,
        installed: bool = True,
    ) -> ModelSpec:
        """Install a model (``installed=False``: make it pullable instead).

        Without weight fields it is a copy of smol under another name; with any of ``family``,
        ``parameter_size``, ``quantization_level``, ``context_length`` or ``embedding_length`` it
        gets generated ``model_info`` and tensors. ``size`` fixes the /api/tags size.
        """
        parsed = parse_name(name)
        if parsed is None:
            raise ValueError(f"invalid model name {name!r}")
        weights = SMOL_WEIGHTS
        weight_fields = {
            "family": family,
            "parameter_size": parameter_size,
            "quantization_level": quantization_level,
            "context_length": context_length,
            "embedding_length": embedding_length,
        }
        chosen = {key: value for key, value in weight_fields.items() if value is not None}
        if chosen:
            layer = transfer.derived_digest("model", parsed.qualified)
            weights = Weights(**chosen, layer_digest=layer, base_info=None)  # type: ignore[arg-type]
        spec = ModelSpec(parsed, weights, modified_at_ns=modified_at_ns or time.time_ns())
        if template is not None:
            spec.template = template
        if system is not None:
            spec.system = system
        if parameters is not None:
            spec.parameters = dict(parameters)
        if capabilities is not None:
            spec.capabilities = tuple(capabilities)
        spec.digest = digest
        if size is not None:
            spec.weights = dataclasses.replace(spec.weights, layer_size=0)
            layer_size = size - spec.size
            spec.weights = dataclasses.replace(spec.weights, layer_size=layer_size)
        if installed:
            self.install(spec)
        else:
            with self._lock:
                self._remote[parsed.key] = spec
        return spec

    def install(self, spec: ModelSpec) -> None:
        """Put ``spec`` in the store, replacing a model of the same name (it becomes newest)."""
        with self._lock:
            self._models.pop(spec.name.key, None)
            self._models[spec.name.key] = (next(self._order), spec)

    def remove_model(self, name: str) -> bool:
        parsed = parse_name(name)
        with self._lock:
            if parsed is None or parsed.key not in self._models:
                return False
            del self._models[parsed.key]
            self._loaded.pop(parsed.key, None)
            return True

    def model(self, name: str) -> ModelSpec | None:
        """The installed model called ``name`` (``smol`` finds ``smol:latest``), or None."""
        parsed = parse_name(name)
        with self._lock:
            entry = self._models.get(parsed.key) if parsed else None
            return entry[1] if entry else None

    def remote_model(self, name: ModelName) -> ModelSpec | None:
        with self._lock:
            return self._remote.get(name.key)

    @property
    def models(self) -> list[ModelSpec]:
        """Installed models in /api/tags order: newest first by the second, as Ollama sorts."""
        with self._lock:
            entries = list(self._models.values())
        entries.sort(key=lambda entry: (entry[1].modified_at_ns // 10**9, entry[0]), reverse=True)
        return [spec for _, spec in entries]

    # -- loaded runners (what /api/ps shows) ---------------------------------------------------

    def load(self, spec: ModelSpec, num_ctx: int) -> bool:
        """Mark ``spec`` loaded with ``num_ctx``; True when that is a (re)load, which Ollama
        does when the model is not loaded or its runner options changed (13 notes)."""
        now = time.time_ns()
        with self._lock:
            current = self._loaded.get(spec.name.key)
            cold = current is None or current.num_ctx != num_ctx or current.expires_at_ns <= now
            expires = now + int(DEFAULT_KEEP_ALIVE * 1e9)
            if current is not None and not cold:
                expires = max(expires, current.expires_at_ns)
            self._loaded[spec.name.key] = Loaded(num_ctx, expires)
            return cold

    def release(self, spec: ModelSpec, keep_alive: float | None) -> None:
        """After a request: the runner expires ``keep_alive`` seconds after its last use (05)."""
        seconds = DEFAULT_KEEP_ALIVE if keep_alive is None else keep_alive
        with self._lock:
            current = self._loaded.get(spec.name.key)
            if current is None:
                return
            if seconds == 0:
                del self._loaded[spec.name.key]
                return
            now = time.time_ns()
            current.expires_at_ns = FOREVER_NS if math.isinf(seconds) else now + int(seconds * 1e9)

    def unload(self, spec: ModelSpec) -> None:
        with self._lock:
            self._loaded.pop(spec.name.key, None)

    def loaded(self) -> list[tuple[ModelSpec, Loaded]]:
        """Running models for /api/ps, the one that expires last first."""
        now = time.time_ns()
        with self._lock:
            found = [
                (self._models[key][1], entry)
                for key, entry in self._loaded.items()
                if key in self._models and entry.expires_at_ns > now
            ]
        return sorted(found, key=lambda item: item[1].expires_at_ns, reverse=True)

    def effective_num_ctx(self, spec: ModelSpec, options: dict[str, Any]) -> int:
        """Request option, then the model's PARAMETER, then the server default, capped at the
        trained context length (reference 5.2)."""
        wanted = options.get("num_ctx") or spec.parameters.get("num_ctx") or self.default_num_ctx
        return max(1, min(int(wanted), spec.weights.context_length))

    # -- blobs -----------------------------------------------------------------------------------

    def add_blob(
        self,
        data: bytes | None = None,
        *,
        digest: str | None = None,
        size: int | None = None,
        weights: Weights | None = None,
    ) -> str:
        """Put a blob in the store and return ``sha256:<hex>``.

        Pass ``data``, or only a ``digest`` and ``size`` for a file the test cannot send (the
        98 MB GGUF of 16). ``weights`` says what create finds inside it.
        """
        if data is not None:
            digest = transfer.sha256_digest(data)
            size = len(data)
        if digest is None:
            raise ValueError("add_blob needs data or a digest")
        hex_digest = digest.removeprefix("sha256:").removeprefix("sha256-").lower()
        with self._lock:
            self._blobs[hex_digest] = Blob(size or 0, weights or self._upload_weights(hex_digest))
        return f"sha256:{hex_digest}"

    def _upload_weights(self, hex_digest: str) -> Weights:
        layer = transfer.derived_digest("gguf", hex_digest)
        return dataclasses.replace(self.upload_weights, layer_digest=layer)

    def blob(self, hex_digest: str) -> Blob | None:
        """A stored blob; every layer of an installed model is one too (18 exchange 1)."""
        hex_digest = hex_digest.lower()
        with self._lock:
            if hex_digest in self._blobs:
                return self._blobs[hex_digest]
            for _, spec in self._models.values():
                for layer, size in spec.layers():
                    if layer == hex_digest:
                        return Blob(size, spec.weights)
        return None

    def known_layer(self, hex_digest: str) -> bool:
        """Whether create will say ``using existing layer`` rather than ``creating new``."""
        return self.blob(hex_digest) is not None

    # -- scripts -------------------------------------------------------------------------------

    def set_script(
        self, script: ScriptSource | str | Sequence[str], model: str | None = None
    ) -> None:
        """What ``model`` (None: every model without its own script) answers from now on.

        ``script`` is a Script, a string or list of chunks (a Script with defaults), or a function
        ``PromptInfo -> Script`` that decides per request.
        """
        with self._lock:
            self._scripts[self._script_key(model)] = _as_source(script)

    def queue_script(
        self, script: ScriptSource | str | Sequence[str], model: str | None = None
    ) -> None:
        """Use ``script`` for the next single request to ``model`` (None: any model), before
        falling back to ``set_script``; queue several to script a conversation."""
        with self._lock:
            self._queued.setdefault(self._script_key(model), deque()).append(_as_source(script))

    def next_script(self, spec: ModelSpec, info: PromptInfo) -> Script:
        key = spec.name.key
        with self._lock:
            source = None
            for queue_key in (key, None):
                queue = self._queued.get(queue_key)
                if queue:
                    source = queue.popleft()
                    break
            if source is None:
                source = self._scripts.get(key) or self._scripts[None]
        return source if isinstance(source, Script) else source(info)

    @staticmethod
    def _script_key(model: str | None) -> str | None:
        if model is None:
            return None
        parsed = parse_name(model)
        if parsed is None:
            raise ValueError(f"invalid model name {model!r}")
        return parsed.key

    def count_tokens(self, text: str) -> int:
        """The pluggable token counter used for prompt_eval_count and truncation."""
        return self.token_counter(text)

    # -- serving -------------------------------------------------------------------------------

    @property
    def stopping(self) -> threading.Event:
        return self._stopping

    def track_connection(self, connection: socket.socket, *, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections[connection] = threading.current_thread()
            else:
                self._connections.pop(connection, None)

    def blob_exists(self, digest: str) -> bool:
        """Whether ``sha256:<hex>`` (or ``sha256-<hex>``) is in the store."""
        hex_digest = transfer.blob_hex(digest)
        return hex_digest is not None and self.blob(hex_digest) is not None


def _as_source(script: ScriptSource | str | Sequence[str]) -> ScriptSource:
    if isinstance(script, Script) or callable(script):
        return script
    return Script(script if isinstance(script, str) else tuple(script))
