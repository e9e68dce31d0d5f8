"""A training run's recipe: one YAML file in pipeline/recipes/ says everything about a run.

Train, export, Modelfile and publish all read the same recipe, so a run is reproducible from
its file alone (the run folder keeps the resolved copy). Unknown keys are errors, not silently
ignored: a typo like `learnig_rate` must not train with the default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ARCHITECTURES = ("llama", "qwen2")
DTYPES = ("float32", "bfloat16", "float16")


class RecipeError(ValueError):
    """A recipe that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Quantization:
    """4-bit loading of the frozen base model (QLoRA, bitsandbytes)."""

    bits: int = 4
    quant_type: str = "nf4"
    double_quant: bool = True
    compute_dtype: str = "bfloat16"


@dataclass(frozen=True)
class Lora:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = (
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    )


@dataclass(frozen=True)
class Data:
    dataset: str = "data/training-set"  # a `storyloom-pipeline dataset` output folder
    train_split: str = "train"
    eval_split: str | None = "validation"
    max_seq_length: int = 8192
    max_train_examples: int | None = None
    max_eval_examples: int | None = None

    def __post_init__(self) -> None:
        if self.eval_split == self.train_split:  # an eval on the training data measures nothing
            raise RecipeError(
                f"data.eval_split is the training split {self.train_split!r}; "
                "name a held-out split or null for none"
            )


@dataclass(frozen=True)
class Training:
    epochs: float = 2.0
    max_steps: int | None = None  # overrides epochs when set
    learning_rate: float = 1e-4
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03  # of all optimizer steps, in [0, 1)
    weight_decay: float = 0.0
    # transformers' `optim` names: adamw_torch on CPU; paged_adamw_8bit (bitsandbytes) on a GPU,
    # where its paging absorbs the memory spikes of the longest sequences.
    optimizer: str = "adamw_torch"
    per_device_batch_size: int = 1
    gradient_accumulation_steps: int = 16
    gradient_checkpointing: bool = True
    logging_steps: int = 10
    eval_steps: int | None = 100
    save_steps: int = 100
    save_total_limit: int | None = 3
    seed: int = 42

    def __post_init__(self) -> None:
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise RecipeError(f"training.warmup_ratio must be in [0, 1), not {self.warmup_ratio}")


@dataclass(frozen=True)
class Export:
    """GGUF files written after training: the adapter and the merged model in these types."""

    adapter: bool = True
    types: tuple[str, ...] = ("f16", "q8_0")


@dataclass(frozen=True)
class Publish:
    """How the model reaches Ollama: its name, context and sampling defaults."""

    ollama_name: str = ""  # e.g. molbal/cra-v1-7b
    ollama_base: str | None = None  # an Ollama base (e.g. qwen2.5:7b-instruct) for FROM+ADAPTER
    num_ctx: int = 8192
    quantize: str | None = "q4_K_M"  # applied by `ollama create --quantize` at publish time
    temperature: float = 0.7
    top_p: float = 0.8
    repeat_penalty: float = 1.07


@dataclass(frozen=True)
class Recipe:
    name: str
    base_model: str  # see storyloom_pipeline.base_model.resolve
    architecture: str
    tokenizer_pre: str  # llama.cpp's pre-tokenizer name (not derivable from tokenizer.json)
    description: str = ""
    license: str = "apache-2.0"
    dtype: str = "bfloat16"
    quantization: Quantization | None = None
    lora: Lora = field(default_factory=Lora)
    data: Data = field(default_factory=Data)
    training: Training = field(default_factory=Training)
    export: Export = field(default_factory=Export)
    publish: Publish = field(default_factory=Publish)
    source: Path | None = field(default=None, compare=False)  # the file it was read from

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise RecipeError(
                f"architecture must be one of {ARCHITECTURES}, not {self.architecture!r}"
            )
        if self.dtype not in DTYPES:
            raise RecipeError(f"dtype must be one of {DTYPES}, not {self.dtype!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the run folder's resolved copy (YAML/JSON-safe)."""
        data = dataclasses.asdict(self)
        data.pop("source")
        return _plain(data)


def save_recipe(recipe: Recipe, path: Path) -> None:
    """Write `recipe` as YAML that `load_recipe` reads back to an equal recipe."""
    import yaml

    text = yaml.safe_dump(recipe.to_dict(), sort_keys=False, allow_unicode=True)
    path.write_text(text, encoding="utf-8")


def load_recipe(path: Path) -> Recipe:
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RecipeError(f"cannot read recipe {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a recipe is a mapping of keys to values")
    try:
        recipe = _build(Recipe, raw, "")
    except RecipeError as exc:
        raise RecipeError(f"{path}: {exc}") from None
    return dataclasses.replace(recipe, source=path)


def _build(cls: type, raw: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.name != "source"}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise RecipeError(f"unknown key {where}{unknown[0]} (known: {', '.join(sorted(names))})")
    values = {key: _convert(hints[key], value, f"{where}{key}") for key, value in raw.items()}
    try:
        return cls(**values)
    except TypeError as exc:  # a required key is missing
        raise RecipeError(f"{where or 'recipe'}: {exc}") from None


def _convert(hint: Any, value: Any, where: str) -> Any:
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise RecipeError(f"{where} may not be empty")
    errors = []
    for option in (o for o in options if o is not type(None)):
        try:
            return _convert_one(option, value, where)
        except RecipeError as exc:
            errors.append(str(exc))
    raise RecipeError(errors[0])


def _convert_one(kind: Any, value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise RecipeError(f"{where} must be a mapping")
        return _build(kind, value, f"{where}.")
    if typing.get_origin(kind) is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RecipeError(f"{where} must be a list of names")
        return tuple(value)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is Path and isinstance(value, str):
        return Path(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise RecipeError(f"{where} must be {kind.__name__}, not {type(value).__name__} {value!r}")
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
