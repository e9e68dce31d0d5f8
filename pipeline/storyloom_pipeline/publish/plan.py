"""From a Modelfile to what /api/create takes, checked locally first.

The modern create request (Ollama >= 0.5.5, reference 1.7) carries no Modelfile text: files are
uploaded as blobs and named in `files`/`adapters` by digest, and TEMPLATE, SYSTEM, PARAMETER,
MESSAGE and LICENSE travel as structured fields. Paths resolve against the Modelfile's folder,
as `ollama create -f` resolves them. Every mistake that would otherwise show only after an
upload of gigabytes (a missing or swapped file, a quantized file to be quantized again, an
unknown quantization) is an error here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyloom_pipeline.modelfile import Modelfile, ModelfileError, parse
from storyloom_pipeline.modelfile.syntax import looks_like_path
from storyloom_pipeline.publish.gguf_info import GGUFError, read_gguf_info
from storyloom_pipeline.publish.names import ModelNameError, parse_model_name

# What Ollama (>= 0.7) quantizes to, by the names it accepts (case-insensitive; q4_K = q4_K_M).
QUANTIZATIONS = {"q4_k_m": "q4_K_M", "q4_k": "q4_K_M", "q4_k_s": "q4_K_S", "q8_0": "q8_0"}


class PlanError(ValueError):
    """A Modelfile or option that cannot be published as it is; the message says how to fix it."""


@dataclass(frozen=True)
class CreatePlan:
    """A checked Modelfile: local files to upload, and everything else /api/create needs."""

    modelfile: Modelfile
    model_file: Path | None  # FROM a local GGUF ...
    base: str | None  # ... or FROM an Ollama model
    adapter_file: Path | None
    quantize: str | None

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(path for path in (self.model_file, self.adapter_file) if path is not None)

    def create_arguments(self, digests: Mapping[Path, str]) -> dict[str, Any]:
        """Keyword arguments for `ollama.Client.create`; files are named by their bare file
        name, as the Ollama CLI names a single file (a relative name is required)."""
        modelfile = self.modelfile
        arguments: dict[str, Any] = {}
        if self.quantize:
            arguments["quantize"] = self.quantize
        if self.base:
            arguments["from_"] = self.base
        if self.model_file:
            arguments["files"] = {self.model_file.name: digests[self.model_file]}
        if self.adapter_file:
            arguments["adapters"] = {self.adapter_file.name: digests[self.adapter_file]}
        if modelfile.template is not None:
            arguments["template"] = modelfile.template
        if modelfile.licenses:
            licenses = list(modelfile.licenses)
            arguments["license"] = licenses[0] if len(licenses) == 1 else licenses
        if modelfile.system is not None:
            arguments["system"] = modelfile.system
        if modelfile.parameters:
            arguments["parameters"] = modelfile.parameter_dict()
        if modelfile.messages:
            arguments["messages"] = [
                {"role": role, "content": content} for role, content in modelfile.messages
            ]
        return arguments


def load_modelfile(path: Path) -> Modelfile:
    try:
        return parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"cannot read the Modelfile {path}: {exc}") from exc
    except ModelfileError as exc:
        raise PlanError(f"{path}: {exc}") from exc


def plan_create(path: Path, *, quantize: str | None = None) -> CreatePlan:
    """Read and check the Modelfile at `path` for publishing (see the module docstring)."""
    modelfile = load_modelfile(path)
    folder = path.parent
    model_file = _local_file(modelfile.from_, folder)
    base = None if model_file else _base_name(modelfile.from_)
    adapter_file = None
    if modelfile.adapter is not None:
        adapter_file = _local_file(modelfile.adapter, folder)
        if adapter_file is None:
            raise PlanError(
                f"ADAPTER {modelfile.adapter}: no such file; publish takes a LoRA adapter as a "
                "GGUF file (storyloom-pipeline export writes one)"
            )
    level = _quantization(quantize)
    _check_files(model_file, adapter_file, level)  # a base's weights only the server knows
    return CreatePlan(modelfile, model_file, base, adapter_file, level)


def _local_file(value: str, folder: Path) -> Path | None:
    """The file a FROM/ADAPTER value names, or None when it names an Ollama model. A value that
    looks like a path but names nothing is an error: Ollama would try to pull it instead."""
    path = Path(value).expanduser()
    # Lexically normalized, not resolved: a symlink keeps its own name (the name Ollama gets).
    path = Path(os.path.normpath(path if path.is_absolute() else folder / path))
    if path.is_file():
        return path
    if path.is_dir():
        raise PlanError(f"{value} is a folder; publish takes a GGUF file")
    if looks_like_path(value):
        raise PlanError(
            f"{value}: no such file (relative to {folder}); export the model first "
            "(storyloom-pipeline export) or fix the path"
        )
    return None


def _base_name(value: str) -> str:
    try:
        parse_model_name(value)
    except ModelNameError as exc:
        raise PlanError(f"FROM {value} is neither a file nor a model name: {exc}") from exc
    return value


def _quantization(quantize: str | None) -> str | None:
    if quantize is None:
        return None
    level = QUANTIZATIONS.get(quantize.lower())
    if level is None:
        raise PlanError(
            f"Ollama cannot quantize to {quantize!r}: it offers q4_K_M, q4_K_S and q8_0 "
            "(storyloom-pipeline export writes other types as GGUF files)"
        )
    return level


def _check_files(model_file: Path | None, adapter_file: Path | None, quantize: str | None) -> None:
    try:
        model = read_gguf_info(model_file) if model_file else None
        adapter = read_gguf_info(adapter_file) if adapter_file else None
    except GGUFError as exc:
        raise PlanError(str(exc)) from exc
    if model is not None and model.kind != "model":
        raise PlanError(
            f"FROM {model_file} is a {model.kind} GGUF, not a model; a LoRA adapter goes on an "
            "ADAPTER line under FROM its base model"
        )
    if adapter is not None and adapter.kind != "adapter":
        raise PlanError(f"ADAPTER {adapter_file} is a full model GGUF, not a LoRA adapter")
    if model and adapter and model.architecture != adapter.architecture:
        raise PlanError(
            f"ADAPTER {adapter_file} is for {adapter.architecture}, but FROM {model_file} is "
            f"{model.architecture}"
        )
    if quantize and model is not None and not model.float_weights:
        raise PlanError(
            f"--quantize {quantize} needs F16, BF16 or F32 weights, but {model_file} holds "
            f"{model.weight_types}: point FROM at the F16 export, or drop --quantize"
        )
