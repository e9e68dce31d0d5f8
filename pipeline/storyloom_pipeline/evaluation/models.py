"""The models under test: how a command-line reference names one, and which engine runs it.

- `ollama:NAME` (e.g. `ollama:molbal/cra-v1-7b`): a model on an Ollama server. It generates;
  it cannot score a given text (Ollama returns log-probabilities of the tokens it generates,
  never of a text it is handed), so its likelihood metrics are reported as not available.
- a `.gguf` file, or `package:<module>/<file>.gguf`: llama.cpp, optionally with a LoRA adapter
  GGUF beside it.
- a transformers folder (`config.json`), `hf:ORG/NAME` (a Hub id), or a peft adapter folder
  (`adapter_config.json`, its base read from there): transformers, optionally with a peft
  adapter folder beside it.

A model's fingerprint (file sizes and modification times, or the Ollama digest) is part of
every journal key, so a model retrained in place is evaluated again rather than taken as done.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from storyloom_pipeline.base_model import PACKAGE_PREFIX, ModelSourceError, resolve

OLLAMA = "ollama"
LLAMA_CPP = "llama.cpp"
TRANSFORMERS = "transformers"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".json", ".model", ".jinja")


class ModelSpecError(ValueError):
    pass


@dataclass(frozen=True)
class ModelSpec:
    engine: str  # OLLAMA, LLAMA_CPP or TRANSFORMERS
    ref: str  # the Ollama name, the GGUF path, or the transformers folder or Hub id
    adapter: str | None = None  # a LoRA GGUF (llama.cpp) or a peft folder (transformers)

    @property
    def label(self) -> str:
        """A short name for tables and plots."""
        name = self.ref if self.engine == OLLAMA or _is_hub_id(self.ref) else _short(self.ref)
        return f"{name} + {_short(self.adapter)}" if self.adapter else name

    def describe(self) -> dict[str, str | None]:
        return {"engine": self.engine, "ref": self.ref, "adapter": self.adapter}

    def file_fingerprint(self) -> str:
        """Sizes and modification times of the weight files (a Hub id stands for itself)."""
        parts = [_stat_fingerprint(Path(p)) for p in (self.ref, self.adapter) if p]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def parse_model(text: str, adapter: str | None = None) -> ModelSpec:
    """Turn `--model`/`--baseline` (and `--*-adapter`) into a `ModelSpec` (module docstring)."""
    text = text.strip()
    if text.startswith("ollama:"):
        if adapter:
            raise ModelSpecError("an Ollama model carries its adapter in its Modelfile")
        name = text.removeprefix("ollama:").strip()
        if not name:
            raise ModelSpecError("ollama: needs a model name, e.g. ollama:molbal/cra-v1-7b")
        return ModelSpec(OLLAMA, name)
    if text.startswith("hf:"):
        return ModelSpec(TRANSFORMERS, text.removeprefix("hf:").strip(), _peft_folder(adapter))
    if text.startswith(PACKAGE_PREFIX):
        try:
            source = resolve(text)
        except ModelSourceError as exc:
            raise ModelSpecError(str(exc)) from exc
        if source.gguf_file:
            return _gguf(Path(source.location) / source.gguf_file, adapter)
        return ModelSpec(TRANSFORMERS, source.location, _peft_folder(adapter))
    path = Path(text).expanduser()
    if path.suffix == ".gguf":
        return _gguf(path, adapter)
    if path.is_dir():
        if (path / "adapter_config.json").is_file():
            if adapter:
                raise ModelSpecError(f"{path} is itself a peft adapter; give its base instead")
            return ModelSpec(TRANSFORMERS, _adapter_base(path), str(path.resolve()))
        if (path / "config.json").is_file():
            return ModelSpec(TRANSFORMERS, str(path.resolve()), _peft_folder(adapter))
        raise ModelSpecError(f"{path}: a folder without config.json or adapter_config.json")
    raise ModelSpecError(
        f"{text!r} is not a .gguf file or a model folder; name an Ollama model as "
        "ollama:NAME and a Hugging Face Hub model as hf:ORG/NAME"
    )


def _gguf(path: Path, adapter: str | None) -> ModelSpec:
    if not path.is_file():
        raise ModelSpecError(f"GGUF file not found: {path}")
    if adapter is not None:
        adapter_path = Path(adapter).expanduser()
        if adapter_path.suffix != ".gguf" or not adapter_path.is_file():
            raise ModelSpecError(f"a GGUF model takes a LoRA adapter .gguf file, not {adapter}")
        adapter = str(adapter_path.resolve())
    return ModelSpec(LLAMA_CPP, str(path.resolve()), adapter)


def _peft_folder(adapter: str | None) -> str | None:
    if adapter is None:
        return None
    path = Path(adapter).expanduser()
    if not (path / "adapter_config.json").is_file():
        raise ModelSpecError(f"{adapter}: not a peft adapter folder (no adapter_config.json)")
    return str(path.resolve())


def _adapter_base(folder: Path) -> str:
    try:
        config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelSpecError(f"{folder}/adapter_config.json: {exc}") from exc
    base = config.get("base_model_name_or_path")
    if not base:
        raise ModelSpecError(f"{folder}/adapter_config.json names no base model")
    return str(base)


def _is_hub_id(ref: str) -> bool:
    return not Path(ref).exists()


def _short(path: str) -> str:
    parts = Path(path).parts
    return "/".join(parts[-2:]) if len(parts) > 1 else path


def _stat_fingerprint(path: Path) -> str:
    if not path.exists():
        return str(path)  # a Hub id
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    entries = []
    for file in files:
        if file.is_file() and file.suffix in _WEIGHT_SUFFIXES:
            stat = file.stat()
            entries.append(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return f"{path.resolve()}[{','.join(entries)}]"
