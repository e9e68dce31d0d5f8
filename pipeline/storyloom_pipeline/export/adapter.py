"""A peft LoRA adapter as a GGUF LoRA adapter (llama.cpp's conventions), for llama.cpp's
`--lora` and Ollama's `ADAPTER`.

The file has `general.type = adapter`, `adapter.type = lora`, `adapter.lora.alpha`, and for
each adapted weight `<gguf weight name>.lora_a` (A, shape r x in) and `.lora_b` (B, out x r).
llama.cpp adds `scale * alpha / r * B @ A` to the weight, as peft does with `lora_alpha / r`.
For llama, the rows of q_proj/k_proj are permuted in the base GGUF (see hf_model), so B of
those projections is permuted the same way; A works on the input side, which is not.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from storyloom_pipeline.base_model import ModelSourceError, resolve
from storyloom_pipeline.export.files import replacing
from storyloom_pipeline.export.hf_model import (
    HfModel,
    LazyTensor,
    ModelFolderError,
    safetensors_tensors,
)
from storyloom_pipeline.export.metadata import ExportInfo

_PEFT_PREFIX = "base_model.model."
_SUFFIXES = {".lora_A.weight": "lora_a", ".lora_B.weight": "lora_b"}


class AdapterError(ValueError):
    """An adapter llama.cpp cannot apply as a plain LoRA; the message says why."""


def export_adapter(
    adapter_dir: Path,
    out: Path,
    info: ExportInfo,
    *,
    base_model: str | Path | None = None,
    dtype: str = "f32",
) -> Path:
    """Write the peft adapter in `adapter_dir` as a GGUF LoRA adapter at `out`.

    Only the base model's config (architecture, head counts) is needed, from `base_model` or
    else the adapter's own `base_model_name_or_path`: see `base_model_config`.
    """
    config = _read_adapter_config(adapter_dir)
    base = base_model_config(config, adapter_dir, base_model)
    qtype = {"f32": gguf.GGMLQuantizationType.F32, "f16": gguf.GGMLQuantizationType.F16}.get(dtype)
    if qtype is None:
        raise ValueError(f"adapter tensors are written as f32 or f16, not {dtype!r}")
    tensors = lora_tensors(adapter_dir, base)
    with replacing(out) as partial:
        writer = gguf.GGUFWriter(partial, base.arch_name)
        info.write_to(writer, "adapter")
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, _llama_cpp_alpha(config))
        for tensor in tensors:
            writer.add_tensor(
                tensor.name, gguf.quants.quantize(tensor.load(), qtype), raw_dtype=qtype
            )
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return out


def _read_adapter_config(adapter_dir: Path) -> dict[str, Any]:
    path = adapter_dir / "adapter_config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AdapterError(f"cannot read the peft adapter config {path}: {exc}") from exc
    unsupported = {
        "peft_type": config.get("peft_type", "LORA") != "LORA",
        "use_dora": bool(config.get("use_dora")),
        "rank_pattern": bool(config.get("rank_pattern")),
        "alpha_pattern": bool(config.get("alpha_pattern")),
        "modules_to_save": bool(config.get("modules_to_save")),
        "bias": config.get("bias", "none") != "none",
        "fan_in_fan_out": bool(config.get("fan_in_fan_out")),
    }
    problems = [key for key, bad in unsupported.items() if bad]
    if problems:
        raise AdapterError(
            f"{path}: llama.cpp applies plain LoRA only; this adapter sets {', '.join(problems)}"
        )
    return config


def base_model_config(
    adapter_config: dict[str, Any], adapter_dir: Path, given: str | Path | None
) -> HfModel:
    """The adapter's base model as far as its config goes. `given`, or else the adapter's own
    `base_model_name_or_path`, is any reference `base_model.resolve` takes: a folder (or a
    merged model, whose config.json is the base's), a .gguf, or a Hub id such as
    Qwen/Qwen2.5-7B-Instruct, whose config transformers reads from the Hugging Face cache
    that training filled (or downloads, unless HF_HUB_OFFLINE is set)."""
    ref = str(given) if given is not None else adapter_config.get("base_model_name_or_path") or ""
    try:
        source = resolve(ref)
    except ModelSourceError as exc:
        raise ModelFolderError(f"{adapter_dir}: the adapter's base model: {exc}") from None
    folder = Path(source.location)
    if not source.is_gguf and (folder / "config.json").is_file():
        return HfModel(folder)
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(source.location, **source.pretrained_kwargs())
    except (OSError, ValueError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelFolderError(
            f"cannot read the config of the base model {ref!r} ({first_line}); "
            "pass its folder with --base"
        ) from None
    return HfModel(folder, config.to_dict())


def _llama_cpp_alpha(config: dict[str, Any]) -> float:
    """llama.cpp scales by alpha / r; rsLoRA (peft's use_rslora) by lora_alpha / sqrt(r)."""
    alpha, rank = float(config["lora_alpha"]), int(config["r"])
    return alpha * math.sqrt(rank) if config.get("use_rslora") else alpha


def source_tensors(
    adapter_dir: Path, base_model: str | Path | None = None
) -> dict[str, Callable[[], np.ndarray]]:
    """{GGUF tensor name: loader of the adapter matrix in GGUF layout}, for `verify_gguf`."""
    config = _read_adapter_config(adapter_dir)
    base = base_model_config(config, adapter_dir, base_model)
    return {tensor.name: tensor.load for tensor in lora_tensors(adapter_dir, base)}


def lora_tensors(adapter_dir: Path, base: HfModel) -> list[LazyTensor]:
    """The adapter's A and B matrices, GGUF-named (sorted), B permuted where the base is."""
    path = adapter_dir / "adapter_model.safetensors"
    if not path.is_file():
        raise AdapterError(f"{adapter_dir}: no adapter_model.safetensors")
    found: dict[str, LazyTensor] = {}
    for tensor in safetensors_tensors([path]):
        suffix = next((s for s in _SUFFIXES if tensor.name.endswith(s)), None)
        if suffix is None or not tensor.name.startswith(_PEFT_PREFIX):
            raise AdapterError(f"{path}: {tensor.name!r} is not a LoRA A/B matrix")
        hf_name = tensor.name.removeprefix(_PEFT_PREFIX).removesuffix(suffix) + ".weight"
        gguf_name = base.gguf_name(hf_name)
        if gguf_name is None:
            raise AdapterError(f"{path}: {hf_name} has no weight in the GGUF to adapt")
        name = f"{gguf_name}.{_SUFFIXES[suffix]}"
        weight = LazyTensor(hf_name, tensor.shape, tensor.load)
        # B's rows are the weight's output rows (permuted for llama's q/k); A's are not.
        found[name] = (
            base.in_gguf_layout(weight, name)
            if suffix == ".lora_B.weight"
            else LazyTensor(name, tensor.shape, tensor.load)
        )
    if not found:
        raise AdapterError(f"{path}: no LoRA matrices")
    with_a = {name.removesuffix(".lora_a") for name in found if name.endswith(".lora_a")}
    with_b = {name.removesuffix(".lora_b") for name in found if name.endswith(".lora_b")}
    if with_a != with_b:
        raise AdapterError(f"{path}: A without B (or B without A) for {sorted(with_a ^ with_b)[0]}")
    return [found[name] for name in sorted(found)]
