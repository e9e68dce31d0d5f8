"""How much context this machine can afford: the memory-aware default for num_ctx.

Ollama allocates the KV cache for the whole num_ctx when it loads a model, whatever the story's
length. A 32k context costs a 7B Qwen2.5 about 1.8 GiB, a 32B one about 8 GiB: asking for a
model's full trained context on a small machine makes it swap or fail to load. The default is
therefore the trained context, capped so that the KV cache takes at most a quarter of the RAM.
"""

from __future__ import annotations

import ctypes
import os
import sys

# Qwen2.5-7B (28 layers, 4 KV heads of 128, f16): the everyday cra-v1 model. Used when a
# model's /api/show does not give its shape.
DEFAULT_KV_BYTES_PER_TOKEN = 2 * 28 * 4 * 128 * 2
KV_SHARE_OF_RAM = 0.25
# Used before Ollama has told us the model's trained context (and if it never does).
FALLBACK_NUM_CTX = 16384
MIN_NUM_CTX = 2048
NUM_CTX_STEP = 1024


def total_memory_bytes() -> int | None:
    """Physical RAM, or None where the OS will not say."""
    if sys.platform == "win32":
        return _windows_total_memory()
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def default_num_ctx(
    trained_context: int | None,
    total_memory: int | None,
    kv_bytes_per_token: int | None = None,
) -> int:
    """min(the model's trained context, what a quarter of the RAM holds), in whole KiB-tokens."""
    wanted = trained_context or FALLBACK_NUM_CTX
    if total_memory:
        per_token = kv_bytes_per_token or DEFAULT_KV_BYTES_PER_TOKEN
        affordable = int(total_memory * KV_SHARE_OF_RAM) // per_token
        wanted = min(wanted, max(MIN_NUM_CTX, affordable // NUM_CTX_STEP * NUM_CTX_STEP))
    return wanted


def _windows_total_memory() -> int | None:
    class MemoryStatus(ctypes.Structure):
        _fields_ = [
            ("dwLength", ctypes.c_ulong),
            ("dwMemoryLoad", ctypes.c_ulong),
            ("ullTotalPhys", ctypes.c_ulonglong),
            ("ullAvailPhys", ctypes.c_ulonglong),
            ("ullTotalPageFile", ctypes.c_ulonglong),
            ("ullAvailPageFile", ctypes.c_ulonglong),
            ("ullTotalVirtual", ctypes.c_ulonglong),
            ("ullAvailVirtual", ctypes.c_ulonglong),
            ("ullAvailExtendedVirtual", ctypes.c_ulonglong),
        ]

    status = MemoryStatus()
    status.dwLength = ctypes.sizeof(MemoryStatus)
    if not ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
        return None
    return int(status.ullTotalPhys)
