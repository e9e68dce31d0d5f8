"""A transformers model folder as llama.cpp sees it: architecture, hyperparameters, tensor
names and layouts, with the weights read lazily from safetensors (one tensor at a time, so a
32B model converts without holding it in memory)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np

# model_type in config.json -> (llama.cpp architecture, whether q/k rows are permuted).
# HF's Llama rotates the two halves of each head (rotate_half); llama.cpp's LLAMA rope rotates
# adjacent pairs, so its converter interleaves the rows of q_proj and k_proj. Qwen2 uses the
# NeoX rope in llama.cpp, which matches HF's layout as is.
ARCHITECTURES: dict[str, tuple[gguf.MODEL_ARCH, bool]] = {
    "llama": (gguf.MODEL_ARCH.LLAMA, True),
    "qwen2": (gguf.MODEL_ARCH.QWEN2, False),
}
_SKIPPED_SUFFIXES = ("rotary_emb.inv_freq",)  # recomputed by llama.cpp


class ModelFolderError(ValueError):
    """A model folder this exporter cannot convert; the message says what is wrong."""


def permute_for_llama_rope(weight: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder the output rows of q_proj/k_proj (or their biases, or a LoRA B matrix) from
    HF's half-split rope layout to llama.cpp's interleaved one, head by head."""
    rows = weight.shape[0]
    return (
        weight.reshape(n_head, 2, rows // n_head // 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


@dataclass(frozen=True)
class LazyTensor:
    name: str
    shape: tuple[int, ...]
    load: Callable[[], np.ndarray]  # float32


def read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelFolderError(f"cannot read the model config {path}: {exc}") from exc


def safetensors_tensors(files: list[Path]) -> Iterator[LazyTensor]:
    """Every tensor in these safetensors files, loaded as float32 only when asked."""
    import torch
    from safetensors import safe_open

    for path in files:
        with safe_open(path, framework="pt") as handle:
            names = list(handle.keys())
            shapes = {name: tuple(handle.get_slice(name).get_shape()) for name in names}

        def loader(name: str, path: Path = path) -> Callable[[], np.ndarray]:
            def load() -> np.ndarray:
                with safe_open(path, framework="pt") as handle:
                    return handle.get_tensor(name).to(torch.float32).numpy()

            return load

        for name in names:
            yield LazyTensor(name, shapes[name], loader(name))


class HfModel:
    """config.json plus the weights of a transformers causal LM folder (llama or qwen2)."""

    def __init__(self, folder: Path, config: dict[str, Any] | None = None) -> None:
        self.folder = folder
        self.config = config if config is not None else read_config(folder)
        model_type = self.config.get("model_type")
        if model_type not in ARCHITECTURES:
            raise ModelFolderError(
                f"{folder}: model_type {model_type!r} is not supported "
                f"(supported: {', '.join(ARCHITECTURES)})"
            )
        self.model_type: str = model_type
        self.arch, self.permutes_qk = ARCHITECTURES[model_type]
        self.n_layers: int = self.config["num_hidden_layers"]
        self.n_head: int = self.config["num_attention_heads"]
        self.n_head_kv: int = self.config.get("num_key_value_heads") or self.n_head
        self.vocab_size: int = self.config["vocab_size"]
        self.head_dim: int = (
            self.config.get("head_dim") or self.config["hidden_size"] // self.n_head
        )
        self._names = gguf.get_tensor_name_map(self.arch, self.n_layers)

    @property
    def arch_name(self) -> str:
        return gguf.MODEL_ARCH_NAMES[self.arch]

    @property
    def tied_embeddings(self) -> bool:
        return bool(self.config.get("tie_word_embeddings", False))

    def write_hparams(self, writer: gguf.GGUFWriter) -> None:
        c = self.config
        writer.add_context_length(c["max_position_embeddings"])
        writer.add_embedding_length(c["hidden_size"])
        writer.add_block_count(self.n_layers)
        writer.add_feed_forward_length(c["intermediate_size"])
        writer.add_head_count(self.n_head)
        writer.add_head_count_kv(self.n_head_kv)
        writer.add_layer_norm_rms_eps(c["rms_norm_eps"])
        writer.add_vocab_size(self.vocab_size)
        writer.add_rope_dimension_count(self.head_dim)
        if self.head_dim != c["hidden_size"] // self.n_head:
            writer.add_key_length(self.head_dim)
            writer.add_value_length(self.head_dim)
        rope = c.get("rope_parameters") or {}
        writer.add_rope_freq_base(float(rope.get("rope_theta", c.get("rope_theta", 10000.0))))
        self._write_rope_scaling(writer, c.get("rope_scaling") or rope)

    def _write_rope_scaling(self, writer: gguf.GGUFWriter, scaling: dict[str, Any]) -> None:
        kind = scaling.get("rope_type") or scaling.get("type") or "default"
        if kind == "default":
            return
        if kind == "linear":
            writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            writer.add_rope_scaling_factor(scaling["factor"])
        elif kind == "yarn":
            writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
            writer.add_rope_scaling_factor(scaling["factor"])
            writer.add_rope_scaling_orig_ctx_len(scaling["original_max_position_embeddings"])
        else:
            raise ModelFolderError(f"{self.folder}: rope scaling {kind!r} is not supported")

    def gguf_name(self, hf_name: str) -> str | None:
        """The GGUF tensor name for a transformers one; None for tensors llama.cpp does not
        store (the tied lm_head, rotary caches)."""
        if hf_name.endswith(_SKIPPED_SUFFIXES):
            return None
        if hf_name == "lm_head.weight" and self.tied_embeddings:
            return None
        name = self._names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise ModelFolderError(f"{self.folder}: no GGUF name for the tensor {hf_name!r}")
        return name

    def rope_heads(self, hf_name: str) -> int | None:
        """How many heads to permute the rows of this (q/k) tensor by, if any."""
        if not self.permutes_qk:
            return None
        if ".self_attn.q_proj." in hf_name:
            return self.n_head
        if ".self_attn.k_proj." in hf_name:
            return self.n_head_kv
        return None

    def in_gguf_layout(self, tensor: LazyTensor, gguf_name: str) -> LazyTensor:
        """`tensor` (of the transformers weight `tensor.name` or a LoRA B matrix for it) named
        `gguf_name`, its rows permuted on load where llama.cpp's rope needs that."""
        heads = self.rope_heads(tensor.name)
        if heads is None:
            return LazyTensor(gguf_name, tensor.shape, tensor.load)
        return LazyTensor(
            gguf_name, tensor.shape, lambda: permute_for_llama_rope(tensor.load(), heads)
        )

    def weight_files(self) -> list[Path]:
        index = self.folder / "model.safetensors.index.json"
        if index.is_file():
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            return [self.folder / name for name in sorted(set(weight_map.values()))]
        single = self.folder / "model.safetensors"
        if single.is_file():
            return [single]
        raise ModelFolderError(
            f"{self.folder}: no model.safetensors; save the model with "
            "save_pretrained(safe_serialization=True)"
        )

    def gguf_tensors(self) -> Iterator[LazyTensor]:
        """The tensors of the GGUF, named and laid out for llama.cpp, loaded on demand."""
        for tensor in safetensors_tensors(self.weight_files()):
            name = self.gguf_name(tensor.name)
            if name is not None:
                yield self.in_gguf_layout(tensor, name)
