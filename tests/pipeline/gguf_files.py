"""Tiny but real GGUF files for tests, written with the gguf library (a few hundred bytes)."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

FILE_TYPES = {
    "F16": (gguf.LlamaFileType.MOSTLY_F16, np.float16),
    "F32": (gguf.LlamaFileType.ALL_F32, np.float32),
    "Q8_0": (gguf.LlamaFileType.MOSTLY_Q8_0, None),
}


def write_gguf(
    path: Path,
    *,
    kind: str = "model",
    weights: str = "F16",
    architecture: str = "llama",
    file_type: bool = True,
) -> Path:
    """A `model` GGUF with one token-embedding tensor in `weights`, or a LoRA `adapter` with
    one lora_a/lora_b pair (llama.cpp's conventions: general.type, adapter.type, alpha)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_type(kind)
    if kind == "adapter":
        writer.add_string("adapter.type", "lora")
        writer.add_float32("adapter.lora.alpha", 16.0)
        for suffix, shape in (("lora_a", (2, 8)), ("lora_b", (8, 2))):
            tensor = np.linspace(-1, 1, shape[0] * shape[1], dtype=np.float32).reshape(shape)
            writer.add_tensor(f"blk.0.attn_q.weight.{suffix}", tensor)
    else:
        llama_type, dtype = FILE_TYPES[weights]
        if file_type:
            writer.add_file_type(llama_type)
        values = np.linspace(-1, 1, 64, dtype=np.float32).reshape(2, 32)
        if dtype is None:  # quantized: gguf's own Q8_0 quantizer
            data = gguf.quantize(values, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor("token_embd.weight", data, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor("token_embd.weight", values.astype(dtype))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
