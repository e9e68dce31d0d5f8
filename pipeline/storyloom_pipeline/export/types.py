"""GGUF file types by the names people use (`f16`, `q8_0`, `q4_k_m`), and who can write them.

gguf-py's own quantizer writes F32, F16, BF16, Q8_0, Q5_0 and Q4_0 (its Q8_0 is byte-identical
to llama.cpp's). The K-quants (q4_k_m, q5_k_m, q6_k, …) need llama.cpp's quantizer
(`engine.quantize`), or Ollama at publish time: `ollama create --quantize q4_K_M` from the F16
GGUF.
"""

from __future__ import annotations

from dataclasses import dataclass

import gguf

Q = gguf.GGMLQuantizationType


@dataclass(frozen=True)
class GgufType:
    name: str  # as in file names: F16, Q8_0, Q4_K_M
    file_type: gguf.LlamaFileType  # general.file_type
    matrix: Q | None  # what gguf-py writes 2-D weights as; None: only llama.cpp can write it


# What gguf-py writes itself. 1-D tensors (norms, biases) always stay F32, as llama.cpp expects.
WRITTEN_BY_GGUF_PY = {
    "f32": GgufType("F32", gguf.LlamaFileType.ALL_F32, Q.F32),
    "f16": GgufType("F16", gguf.LlamaFileType.MOSTLY_F16, Q.F16),
    "bf16": GgufType("BF16", gguf.LlamaFileType.MOSTLY_BF16, Q.BF16),
    "q8_0": GgufType("Q8_0", gguf.LlamaFileType.MOSTLY_Q8_0, Q.Q8_0),
    "q5_0": GgufType("Q5_0", gguf.LlamaFileType.MOSTLY_Q5_0, Q.Q5_0),
    "q4_0": GgufType("Q4_0", gguf.LlamaFileType.MOSTLY_Q4_0, Q.Q4_0),
}
FLOAT_TYPES = ("f32", "bf16", "f16")  # most precise first: sources for llama.cpp's quantizer


def gguf_type(name: str) -> GgufType:
    """`f16`, `Q4_K_M`, `q4_k_m`, … -> its GgufType; a clear error for anything else."""
    key = name.strip().lower()
    if key in WRITTEN_BY_GGUF_PY:
        return WRITTEN_BY_GGUF_PY[key]
    return GgufType(key.upper(), llama_file_type(key), None)


def gguf_file_name(name: str, type_name: str) -> str:
    """`cra-v1-7b`, `f16` -> `cra-v1-7b-F16.gguf`: the merged model's file of that type."""
    return f"{name}-{gguf_type(type_name).name}.gguf"


def adapter_file_name(name: str) -> str:
    return f"{name}-adapter.gguf"


def llama_file_type(name: str) -> gguf.LlamaFileType:
    key = name.strip().upper()
    member = "ALL_F32" if key == "F32" else f"MOSTLY_{key}"
    try:
        return gguf.LlamaFileType[member]
    except KeyError:
        known = ", ".join(
            t.name.removeprefix("MOSTLY_").removeprefix("ALL_").lower()
            for t in gguf.LlamaFileType
            if t.name != "GUESSED"
        )
        raise ValueError(f"unknown GGUF type {name!r}; known: {known}") from None
