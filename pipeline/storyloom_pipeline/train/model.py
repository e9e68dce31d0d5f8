"""The model side of training: the base loaded for LoRA or QLoRA, and the merge afterwards.

QLoRA (a recipe with `quantization`): the frozen base is loaded in 4-bit NF4 by bitsandbytes,
computing in bf16; LoRA adapters train in full precision on top. `prepare_model_for_kbit_training`
keeps the norms in fp32 and lets gradients reach the adapters through the frozen layers.

The merge never goes through the 4-bit weights: the base is reloaded unquantized in the recipe's
dtype and the adapter is folded into it (`merge_and_unload`), which is what llama.cpp, Ollama
and the GGUF export expect. (The adapter learnt against the NF4-rounded base, so the merged
model differs from the trained one by that rounding; it is the usual QLoRA practice.)
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storyloom_pipeline.base_model import load_causal_lm, load_tokenizer, resolve
from storyloom_pipeline.recipe import Quantization, Recipe

if TYPE_CHECKING:
    from accelerate import PartialState
    from peft import PeftModel
    from transformers import BitsAndBytesConfig, PreTrainedModel

MERGE_RECORD = "storyloom-merge.json"  # written last: the merged folder is complete
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


class TrainingError(RuntimeError):
    """Training cannot start or go on; the message says why and what to do."""


def torch_dtype(name: str) -> Any:
    import torch

    return getattr(torch, name)


def quantization_config(quantization: Quantization) -> BitsAndBytesConfig:
    if importlib.util.find_spec("bitsandbytes") is None:
        raise TrainingError(
            "this recipe loads its base model in 4 bits (QLoRA), which needs bitsandbytes: "
            "pip install 'storyloom[pipeline,qlora]' (a CUDA GPU is strongly advised)"
        )
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quantization.quant_type,
        bnb_4bit_use_double_quant=quantization.double_quant,
        bnb_4bit_compute_dtype=torch_dtype(quantization.compute_dtype),
    )


def process_state() -> PartialState:
    """This process's place among the training processes (one, or N under `accelerate
    launch`/torchrun). Without CUDA it must be made with cpu=True, else accelerate takes N CPU
    processes for N independent runs that all write the run folder."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def training_device() -> str:
    """This process's device: its own GPU when several train, else cuda:0 or the CPU."""
    state = process_state()
    return "cpu" if state.device.type == "cpu" else f"cuda:{state.local_process_index}"


def load_for_training(recipe: Recipe) -> PeftModel:
    """The recipe's base model with fresh LoRA adapters on its target modules."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    kwargs: dict[str, Any] = {"dtype": torch_dtype(recipe.dtype)}
    if recipe.quantization is not None:
        # A quantized model cannot be moved after loading: place it on this process's device.
        kwargs["quantization_config"] = quantization_config(recipe.quantization)
        kwargs["device_map"] = {"": training_device()}
    model = load_causal_lm(resolve(recipe.base_model), **kwargs)
    model.config.use_cache = (
        False  # the KV cache is useless in training and clashes with checkpointing
    )
    if recipe.quantization is not None:
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=recipe.training.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    lora = recipe.lora
    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def merge_adapter(
    adapter_dir: Path, out_dir: Path, *, base_model: str, dtype: str = "float32"
) -> Path:
    """Fold the LoRA adapter in `adapter_dir` into `base_model` (a recipe's base model
    reference) loaded unquantized in `dtype`; save a plain transformers folder (safetensors,
    config, tokenizer) at `out_dir` and return it.

    A folder that already holds a finished merge of the same adapter (by content: a run
    trained again in the same folder is merged again), base and dtype is reused; an
    interrupted one is redone.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoTokenizer

    if missing := missing_adapter_files(adapter_dir):
        raise TrainingError(f"no LoRA adapter in {adapter_dir} ({', '.join(missing)} missing)")
    record = {
        "adapter_sha256": adapter_digest(adapter_dir),
        "base_model": base_model,
        "dtype": dtype,
    }
    done = out_dir / MERGE_RECORD
    if read_merge_record(out_dir) == record:
        return out_dir
    done.unlink(missing_ok=True)
    source = resolve(base_model)
    base = load_causal_lm(source, dtype=torch_dtype(dtype))
    with torch.no_grad():
        merged: PreTrainedModel = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    out_dir.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out_dir, safe_serialization=True)
    # train() saves the tokenizer beside the adapter; an adapter from elsewhere may lack it
    if (adapter_dir / "tokenizer_config.json").is_file():
        AutoTokenizer.from_pretrained(adapter_dir).save_pretrained(out_dir)
    else:
        load_tokenizer(source).save_pretrained(out_dir)
    done.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return out_dir


def missing_adapter_files(adapter_dir: Path) -> list[str]:
    """The files of a saved peft adapter that `adapter_dir` lacks (none: it holds one)."""
    return [name for name in ADAPTER_FILES if not (adapter_dir / name).is_file()]


def adapter_digest(adapter_dir: Path) -> str:
    """sha256 over the adapter's config and weights: which adapter a merge was made from."""
    digest = hashlib.sha256()
    for name in ADAPTER_FILES:
        digest.update(name.encode() + b"\0")
        with (adapter_dir / name).open("rb") as file:
            while block := file.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def read_merge_record(merged_dir: Path) -> dict[str, Any] | None:
    """What the finished merge in `merged_dir` was made from (`merge_adapter`'s record,
    written last), or None: no merge there, or one that did not finish."""
    try:
        record = json.loads((merged_dir / MERGE_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None
