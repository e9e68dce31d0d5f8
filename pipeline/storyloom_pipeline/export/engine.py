"""The real llama.cpp engine, in process: load a GGUF (plus an optional LoRA adapter GGUF),
tokenize, logits for every position, greedy generation, and llama.cpp's own quantizer.

It speaks llama.cpp's public C API (`llama.h`) through the ctypes declarations that
`llama-cpp-python` ships (`llama_cpp.llama_cpp`), not through its high-level `Llama` class:
verification and evaluation need the raw logits of every position, LoRA adapters applied at
load, and `llama_model_quantize` (K-quants), which that class does not all expose.

Why not `llama-cpp-py-sync` (a prebuilt CFFI binding of the same C API)? Its wheels are tagged
manylinux2014 but their libraries need glibc 2.38 (`__isoc23_strtol`, …); Debian 12, this
project's machines and CI, has 2.36, so `dlopen` fails. See `EngineUnavailable`.

Usage::

    with Engine(Path("model-F16.gguf"), adapter=Path("adapter.gguf")) as engine:
        ids = engine.tokenize("Once upon a time")
        logits = engine.logits(ids)          # (len(ids), n_vocab) float32
        more = engine.greedy(ids, 16)        # token ids, argmax decoding
"""

from __future__ import annotations

import ctypes
import os
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from storyloom_pipeline.export.files import replacing
from storyloom_pipeline.export.types import llama_file_type

# ggml_log_level in ggml.h (llama-cpp-python's _logger.py comments an older numbering).
_LOG_WARN, _LOG_ERROR, _LOG_CONT = 3, 4, 5
_LOG_TAIL = 20
_GGML_TYPE_F32 = 0
_FLASH_ATTN_DISABLED = 0  # llama_flash_attn_type


class EngineUnavailable(RuntimeError):
    """No usable llama.cpp binding in this environment; the message says how to get one."""


class EngineError(RuntimeError):
    """llama.cpp refused a request; the message carries llama.cpp's own last warnings."""


class _Library:
    """The loaded C API (one per process) and the log lines llama.cpp printed lately."""

    def __init__(self) -> None:
        try:
            from llama_cpp import llama_cpp as api
        except (ImportError, OSError, RuntimeError) as exc:
            raise EngineUnavailable(
                "llama.cpp is not available: install llama-cpp-python "
                "(`make test` does; a first install builds it from source in 8-16 min). "
                f"Import failed: {exc}"
            ) from exc
        self.api = api
        self.log: deque[str] = deque(maxlen=_LOG_TAIL)
        self._level = 0
        # Keep the ctypes callback object alive for as long as llama.cpp may call it.
        self._callback = api.llama_log_callback(self._on_log)
        api.llama_log_set(self._callback, ctypes.c_void_p(0))
        api.llama_backend_init()

    def _on_log(self, level: int, text: bytes, _user_data: Any) -> None:
        # Only warnings and errors are kept (for error messages); the rest is load chatter.
        if level != _LOG_CONT:
            self._level = level
        if self._level in (_LOG_WARN, _LOG_ERROR):
            line = text.decode("utf-8", errors="replace")
            if level == _LOG_CONT and self.log:
                self.log[-1] += line
            else:
                self.log.append(line)

    def failure(self, message: str) -> EngineError:
        details = "".join(self.log).strip()
        self.log.clear()
        return EngineError(f"{message}\nllama.cpp said:\n{details}" if details else message)


_library: _Library | None = None


def library() -> _Library:
    """The llama.cpp C API, loaded once; `EngineUnavailable` when there is none."""
    global _library
    if _library is None:
        _library = _Library()
    return _library


def default_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Engine:
    """One model (and optionally one LoRA adapter) loaded in llama.cpp on the CPU.

    `n_ctx` bounds the longest sequence `logits`/`greedy` accept. Always `close()` it (or use
    `with`): the weights live outside Python's heap.
    """

    def __init__(
        self,
        model: Path,
        *,
        adapter: Path | None = None,
        adapter_scale: float = 1.0,
        n_ctx: int = 2048,
        n_batch: int = 512,
        n_threads: int | None = None,
        precise: bool = False,
    ) -> None:
        for path in (model, adapter):
            if path is not None and not Path(path).is_file():
                raise FileNotFoundError(f"no such GGUF file: {path}")
        self._lib = lib = library()
        lib.log.clear()
        api = lib.api
        # Freed in this order by close(): context, adapter, model.
        self._handles: dict[str, Any] = {}
        self._finalizer = weakref.finalize(self, _free, api, self._handles)

        params = api.llama_model_default_params()
        # The extra CPU buffer types repack weights for AMX/AVX512 kernels. On this project's
        # VMs the CPU advertises AMX, a wheel built there uses it, and the first tile
        # instruction raises SIGILL (measured: a Q4_1 decode killed the process); plain
        # buffers run the same arithmetic on every CPU.
        params.use_extra_bufts = False
        handle = api.llama_model_load_from_file(str(model).encode(), params)
        if not handle:
            raise lib.failure(f"llama.cpp could not load {model}")
        self._handles["model"] = handle
        self._vocab = api.llama_model_get_vocab(handle)
        self.n_vocab: int = api.llama_vocab_n_tokens(self._vocab)

        if adapter is not None:
            lora = api.llama_adapter_lora_init(handle, str(adapter).encode())
            if not lora:
                self.close()
                raise lib.failure(f"llama.cpp could not apply the adapter {adapter} to {model}")
            self._handles["adapter"] = lora

        ctx_params = api.llama_context_default_params()
        ctx_params.n_ctx = n_ctx
        ctx_params.n_batch = ctx_params.n_ubatch = self._n_batch = min(n_batch, n_ctx)
        ctx_params.n_threads = ctx_params.n_threads_batch = n_threads or default_threads()
        if precise:
            # llama.cpp's defaults, an F16 KV cache and flash attention (F16 dot products),
            # move SmolLM2's logits by ~3e-2; without them an F32 GGUF matches transformers'
            # fp32 forward pass to ~1e-4, so a writer error cannot hide in that noise.
            ctx_params.type_k = ctx_params.type_v = _GGML_TYPE_F32
            ctx_params.flash_attn_type = _FLASH_ATTN_DISABLED
        ctx = api.llama_init_from_model(handle, ctx_params)
        if not ctx:
            self.close()
            raise lib.failure(f"llama.cpp could not create a context for {model}")
        self._handles["ctx"] = ctx
        self.n_ctx: int = api.llama_n_ctx(ctx)
        if adapter is not None:
            adapters = (api.llama_adapter_lora_p_ctypes * 1)(self._handles["adapter"])
            scales = (ctypes.c_float * 1)(adapter_scale)
            if api.llama_set_adapters_lora(ctx, adapters, 1, scales) != 0:
                self.close()
                raise lib.failure(f"llama.cpp could not activate the adapter {adapter}")

    # -- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def _ctx(self) -> Any:
        ctx = self._handles.get("ctx")
        if not ctx:
            raise EngineError("the engine is closed")
        return ctx

    # -- text ------------------------------------------------------------------------------

    def tokenize(
        self, text: str, *, add_special: bool = False, parse_special: bool = True
    ) -> list[int]:
        """Token ids as llama.cpp splits `text`; special tokens written out (`<|im_end|>`) are
        read as such unless `parse_special` is false. `add_special` adds BOS/EOS as the GGUF
        says."""
        api, data = self._lib.api, text.encode("utf-8")
        capacity = len(data) + 8
        while True:
            buffer = (api.llama_token * capacity)()
            n = api.llama_tokenize(
                self._vocab, data, len(data), buffer, capacity, add_special, parse_special
            )
            if n >= 0:
                return list(buffer[:n])
            capacity = -n

    def pieces(self, ids: Sequence[int]) -> list[bytes]:
        """The bytes each token stands for (special tokens written out)."""
        api, pieces = self._lib.api, []
        buffer = ctypes.create_string_buffer(256)
        for token in ids:
            n = api.llama_token_to_piece(self._vocab, token, buffer, len(buffer), 0, True)
            if n < 0:
                buffer = ctypes.create_string_buffer(-n)
                n = api.llama_token_to_piece(self._vocab, token, buffer, len(buffer), 0, True)
            pieces.append(buffer.raw[:n])
        return pieces

    def detokenize(self, ids: Sequence[int]) -> str:
        return b"".join(self.pieces(ids)).decode("utf-8", errors="replace")

    def is_end_of_generation(self, token: int) -> bool:
        return bool(self._lib.api.llama_vocab_is_eog(self._vocab, token))

    # -- evaluation ------------------------------------------------------------------------

    def logits(self, ids: Sequence[int]) -> np.ndarray:
        """The logits after every token of `ids`: shape (len(ids), n_vocab), float32.

        Row i scores the token that follows ids[:i+1]. Long sequences cost
        len(ids) * n_vocab * 4 bytes; `token_nll` streams instead.
        """
        rows = [chunk for _, chunk in self._evaluate(ids)]
        return np.concatenate(rows) if rows else np.empty((0, self.n_vocab), np.float32)

    def token_nll(self, ids: Sequence[int]) -> np.ndarray:
        """Negative log-likelihood (nats) of ids[1:], each given the tokens before it,
        computed chunk by chunk so that long texts never hold all their logits at once."""
        targets = np.asarray(ids[1:], dtype=np.int64)
        nll = np.empty(len(targets), dtype=np.float64)
        for start, chunk in self._evaluate(ids[:-1]):
            scores = chunk.astype(np.float64)
            top = scores.max(axis=1, keepdims=True)
            log_norm = top[:, 0] + np.log(np.exp(scores - top).sum(axis=1))
            rows = np.arange(len(chunk))
            nll[start : start + len(chunk)] = (
                log_norm - scores[rows, targets[start : start + len(chunk)]]
            )
        return nll

    def greedy(
        self, ids: Sequence[int], max_new_tokens: int, *, stop_at_eog: bool = True
    ) -> list[int]:
        """Argmax decoding after the prompt `ids`: the new token ids (at most max_new_tokens),
        stopping early at an end-of-generation token (not included) unless told otherwise."""
        if not ids:
            raise ValueError("greedy decoding needs at least one prompt token")
        self._check_length(len(ids) + max_new_tokens)
        *_, (_, last) = self._evaluate(ids, last_only=True)
        generated: list[int] = []
        while len(generated) < max_new_tokens:
            token = int(np.argmax(last[-1]))
            if stop_at_eog and self.is_end_of_generation(token):
                break
            generated.append(token)
            if len(generated) < max_new_tokens:
                last = self._decode([token], len(ids) + len(generated) - 1, outputs="last")
        return generated

    def _evaluate(
        self, ids: Sequence[int], *, last_only: bool = False
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Decode `ids` from position 0 in n_batch chunks, yielding (first position, logits)."""
        self._check_length(len(ids))
        api = self._lib.api
        api.llama_memory_clear(api.llama_get_memory(self._ctx), True)
        for start in range(0, len(ids), self._n_batch):
            chunk = ids[start : start + self._n_batch]
            final = start + len(chunk) == len(ids)
            outputs = ("last" if final else "none") if last_only else "all"
            yield start, self._decode(chunk, start, outputs=outputs)

    def _decode(self, chunk: Sequence[int], first_pos: int, *, outputs: str) -> np.ndarray:
        api, n = self._lib.api, len(chunk)
        batch = api.llama_batch_init(n, 0, 1)
        try:
            batch.n_tokens = n
            for i, token in enumerate(chunk):
                batch.token[i] = token
                batch.pos[i] = first_pos + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = outputs == "all" or (outputs == "last" and i == n - 1)
            status = api.llama_decode(self._ctx, batch)
        finally:
            api.llama_batch_free(batch)
        if status != 0:
            raise self._lib.failure(f"llama_decode failed with status {status}")
        rows = {"all": n, "last": 1, "none": 0}[outputs]
        if not rows:
            return np.empty((0, self.n_vocab), np.float32)
        # Outputs are stored contiguously, in batch order (llama.h, llama_get_logits).
        pointer = api.llama_get_logits(self._ctx)
        return np.ctypeslib.as_array(pointer, shape=(rows, self.n_vocab)).copy()

    def _check_length(self, n: int) -> None:
        if n > self.n_ctx:
            raise ValueError(
                f"{n} tokens do not fit the context of {self.n_ctx}; load with a larger n_ctx"
            )


def _free(api: Any, handles: dict[str, Any]) -> None:
    frees: dict[str, Callable[[Any], None]] = {
        "ctx": api.llama_free,
        "adapter": api.llama_adapter_lora_free,
        "model": api.llama_model_free,
    }
    for key, free in frees.items():
        handle = handles.pop(key, None)
        if handle:
            free(handle)


def quantize(source: Path, out: Path, type_name: str, *, n_threads: int | None = None) -> Path:
    """Quantize a GGUF with llama.cpp's own quantizer (`llama-quantize`): every llama.cpp type,
    K-quants included (q4_k_m, q5_k_m, q6_k, …). Best from an F32, BF16 or F16 file."""
    file_type = llama_file_type(type_name)
    lib = library()
    lib.log.clear()
    api = lib.api
    if not Path(source).is_file():
        raise FileNotFoundError(f"no such GGUF file: {source}")
    params = api.llama_model_quantize_default_params()
    params.ftype = int(file_type)
    params.nthread = n_threads or default_threads()
    with replacing(out) as partial:
        status = api.llama_model_quantize(
            str(source).encode(), str(partial).encode(), ctypes.byref(params)
        )
        if status != 0:
            raise lib.failure(f"llama.cpp could not quantize {source} to {type_name}")
    return out
