"""The dtypes `verify-gguf` may run its transformers reference in, and what each costs in
exactness (stdlib only, so that the command's --help stays instant)."""

from __future__ import annotations

# What a half-precision reference adds to every bound: its own rounding. Measured in this
# session against an F32 GGUF (llama.cpp precise), last-position max |Δlogit|: SmolLM2-135M,
# 117 tokens: bfloat16 0.41, float16 0.054; the tiny random Qwen2: 0.092 and 0.015. The
# allowances are those of SmolLM2 with the ~3-5x margin the file bounds have. Memory: the
# reference holds every weight in its dtype, 4 bytes each in float32 (a 7.6B Qwen2.5-7B about
# 30 GB, a 32.8B Qwen2.5-32B about 131 GB), 2 in bfloat16 or float16 (about 15 and 66 GB).
REFERENCE_ROUNDING: dict[str, float] = {"float32": 0.0, "bfloat16": 1.5, "float16": 0.25}
REFERENCE_DTYPES = tuple(REFERENCE_ROUNDING)
