"""Installed models and how /api/tags, /api/show and /api/ps describe them.

The default model is the recording's ``smol`` (SmolLM2-135M-Instruct Q4_1) with the exact details,
``model_info``, tensors, template and parameters of 04-show, so the replay test can use the same
names. Layer digests are computed the way Ollama computes them (a template or system layer is the
sha256 of its text; the params layer is the sha256 of the Go-encoded JSON plus a newline), so
``using existing layer sha256:…`` in a create stream matches 17 and 18 byte for byte. Only the GGUF
layer itself and a manifest's digest cannot be recomputed; those are given or derived.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fake_ollama.wire import go_format_value, go_json, rfc3339_nano

REGISTRY = "registry.ollama.ai"
MODELS_DIR = "/home/writer1/.ollama/models"  # as the transcripts show it (README)

SMOL_TEMPLATE = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
    "<|im_start|>assistant\n"
)
CHATML_STOPS = ("<|im_start|>", "<|im_end|>")

# llama.cpp file types, as general.file_type reports them (Q4_1 -> 3 in 04, Q8_0 -> 7 in 19).
FILE_TYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9}
FILE_TYPES |= {"Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_S": 16, "Q5_K_M": 17, "Q6_K": 18, "BF16": 32}

SMOL_LAYER = "941f309b54caaad6747569ba43712bcde44a2be3bae16c3282ff499c37c54af5"
SMOL_LAYER_SIZE = 98362432
SMOL_UPLOAD = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"  # 16, 17
SMOL_DIGEST = "fd5f44c0b5aff6453726119fc560d73a8a995a55b4a49804bc24b1969ecf1794"
LORA_ADAPTER = "a57b21f83a441f90322583d8f8765302cab47ec977e3079a7935fefe076774e8"
LORA_ADAPTER_SIZE = 1851456
LORA_DIGEST = "687561432cbca129dffa0e95fdfc2659aa043df53b5875b08c30a1cc76bee9dd"

# 04-show exchange 1, verbatim (the non-verbose show nulls the big tokenizer arrays).
SMOL_MODEL_INFO: Mapping[str, Any] = {
    "general.architecture": "llama",
    "general.basename": "smollm2",
    "general.file_type": 3,
    "general.finetune": "8k-lc100k-mix1-ep2",
    "general.languages": None,
    "general.license": "apache-2.0",
    "general.organization": "HuggingFaceTB",
    "general.parameter_count": 134515008,
    "general.quantization_version": 2,
    "general.size_label": "135M",
    "general.type": "model",
    "llama.attention.head_count": 9,
    "llama.attention.head_count_kv": 3,
    "llama.attention.layer_norm_rms_epsilon": 1e-05,
    "llama.block_count": 30,
    "llama.context_length": 8192,
    "llama.embedding_length": 576,
    "llama.feed_forward_length": 1536,
    "llama.rope.dimension_count": 64,
    "llama.rope.freq_base": 100000,
    "llama.vocab_size": 49152,
    "tokenizer.ggml.add_bos_token": False,
    "tokenizer.ggml.add_space_prefix": False,
    "tokenizer.ggml.bos_token_id": 1,
    "tokenizer.ggml.eos_token_id": 2,
    "tokenizer.ggml.merges": None,
    "tokenizer.ggml.model": "gpt2",
    "tokenizer.ggml.padding_token_id": 2,
    "tokenizer.ggml.pre": "smollm",
    "tokenizer.ggml.token_type": None,
    "tokenizer.ggml.tokens": None,
    "tokenizer.ggml.unknown_token_id": 0,
}


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------

_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}")
_HOST = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(?::[0-9]+)?")


@dataclass(frozen=True)
class ModelName:
    """``[host/][namespace/]model[:tag]`` with Ollama's defaults filled in."""

    host: str
    namespace: str
    model: str
    tag: str

    @property
    def short(self) -> str:
        """The name /api/tags and /api/ps show: ``smol:latest``, ``molbal/cra-v1-7b:latest``."""
        prefix = "" if self.host == REGISTRY else f"{self.host}/"
        if self.namespace != "library" or prefix:
            prefix += f"{self.namespace}/"
        return f"{prefix}{self.model}:{self.tag}"

    @property
    def qualified(self) -> str:
        """``registry.ollama.ai/library/smol:latest`` (capability errors in 24)."""
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"

    @property
    def key(self) -> str:
        return self.qualified.lower()  # Ollama matches names case-insensitively


def parse_name(text: str) -> ModelName | None:
    """The parsed name, or None when Ollama would call it invalid (``Bad Name!`` in 15, 20)."""
    if not isinstance(text, str) or not text:
        return None
    parts = text.split("/")
    if len(parts) > 3:
        return None
    host = parts[0] if len(parts) == 3 else REGISTRY
    namespace = parts[-2] if len(parts) >= 2 else "library"
    model, _, tag = parts[-1].partition(":")
    tag = tag or "latest"
    if not _HOST.fullmatch(host) or not all(_PART.fullmatch(p) for p in (namespace, model, tag)):
        return None
    return ModelName(host, namespace, model, tag)


# --------------------------------------------------------------------------------------------
# Weights and models
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Weights:
    """The GGUF behind a model, as far as the API shows it.

    The fake never parses GGUF files; an uploaded blob is described by one of these (by default
    the smol GGUF). ``base_info`` is ``model_info`` verbatim; when it is None a plausible one is
    generated from the other fields.
    """

    family: str = "llama"
    parameter_size: str = "134.52M"
    quantization_level: str = "Q4_1"
    context_length: int = 8192
    embedding_length: int = 576
    block_count: int = 30
    layer_digest: str = SMOL_LAYER
    layer_size: int = SMOL_LAYER_SIZE
    base_info: Mapping[str, Any] | None = field(default_factory=lambda: SMOL_MODEL_INFO)

    def model_info(self) -> dict[str, Any]:
        info = dict(self.base_info) if self.base_info is not None else self._generated_info()
        info["general.file_type"] = FILE_TYPES.get(self.quantization_level, 0)
        return dict(sorted(info.items()))  # a Go map: encoding/json sorts its keys

    def _generated_info(self) -> dict[str, Any]:
        arch, width = self.family, self.embedding_length
        heads = max(1, width // 128)
        return {
            "general.architecture": arch,
            "general.parameter_count": parameter_count(self.parameter_size),
            "general.quantization_version": 2,
            f"{arch}.attention.head_count": heads,
            f"{arch}.attention.head_count_kv": max(1, heads // 7),
            f"{arch}.block_count": self.block_count,
            f"{arch}.context_length": self.context_length,
            f"{arch}.embedding_length": width,
            f"{arch}.feed_forward_length": width * 5 + width // 3,
            "tokenizer.ggml.merges": None,
            "tokenizer.ggml.model": "gpt2",
            "tokenizer.ggml.token_type": None,
            "tokenizer.ggml.tokens": None,
        }

    def tensors(self) -> list[dict[str, Any]]:
        """A llama-style tensor list shaped by model_info (272 entries for smol, 04)."""
        info = self.model_info()
        arch = info.get("general.architecture", self.family)
        width = info.get(f"{arch}.embedding_length", self.embedding_length)
        ffn = info.get(f"{arch}.feed_forward_length", width * 4)
        heads = info.get(f"{arch}.attention.head_count", 1)
        kv = width * info.get(f"{arch}.attention.head_count_kv", heads) // heads
        vocab = info.get(f"{arch}.vocab_size", 32000)
        quant = self.quantization_level
        embed = quant if quant in ("F32", "F16", "BF16") else "Q8_0"
        shapes = [
            ("attn_k", quant, [width, kv]),
            ("attn_norm", "F32", [width]),
            ("attn_output", quant, [width, width]),
            ("attn_q", quant, [width, width]),
            ("attn_v", quant, [width, kv]),
            ("ffn_down", quant, [ffn, width]),
            ("ffn_gate", quant, [width, ffn]),
            ("ffn_norm", "F32", [width]),
            ("ffn_up", quant, [width, ffn]),
        ]
        tensors = [
            {"name": "output_norm.weight", "type": "F32", "shape": [width]},
            {"name": "token_embd.weight", "type": embed, "shape": [width, vocab]},
        ]
        for block in range(info.get(f"{arch}.block_count", self.block_count)):
            for name, kind, shape in shapes:
                tensors.append({"name": f"blk.{block}.{name}.weight", "type": kind, "shape": shape})
        return tensors


SMOL_WEIGHTS = Weights()


@dataclass
class ModelSpec:
    """One installed (or pullable) model: everything tags, show, ps and generate need."""

    name: ModelName
    weights: Weights = SMOL_WEIGHTS
    template: str = SMOL_TEMPLATE
    system: str = ""
    licenses: tuple[str, ...] = ()  # LICENSE texts, each its own layer
    parameters: dict[str, Any] = field(default_factory=lambda: {"stop": list(CHATML_STOPS)})
    capabilities: tuple[str, ...] = ("completion",)
    parent_model: str = ""
    adapter: str | None = None  # digest (hex) of a LoRA layer
    adapter_size: int = 0
    modified_at_ns: int = 0
    digest: str | None = None  # the manifest digest; None: derived from the layers
    vram_size: int | None = None  # /api/ps "size"; None: derived from the size

    def layers(self) -> list[tuple[str, int]]:
        """``(digest, size)`` per layer: GGUF, adapter, template, system, licenses, params."""
        layers = [(self.weights.layer_digest, self.weights.layer_size)]
        if self.adapter:
            layers.append((self.adapter, self.adapter_size))
        layers += [text_layer(text) for text in (self.template, self.system) if text]
        layers += [text_layer(text) for text in self.licenses]
        if self.parameters:
            layers.append(params_layer(self.parameters))
        return layers

    @property
    def size(self) -> int:
        """Layers plus the config blob, as /api/tags reports it (98362745 for smol, 03)."""
        return sum(size for _, size in self.layers()) + config_size(self.weights)

    @property
    def manifest_digest(self) -> str:
        if self.digest:
            return self.digest
        return sha256_hex(go_json([self.weights.quantization_level, *self.layers()]))

    @property
    def ps_size(self) -> int:
        # smol's runner took 160222411 bytes for a 98362745-byte model (05).
        return self.vram_size if self.vram_size is not None else self.size * 1629 // 1000

    def details(self, *, with_lengths: bool) -> dict[str, Any]:
        """``details``; tags adds context and embedding length, show and ps do not (03, 04)."""
        weights = self.weights
        details: dict[str, Any] = {
            "parent_model": self.parent_model,
            "format": "gguf",
            "family": weights.family,
            "families": [weights.family],
            "parameter_size": weights.parameter_size,
            "quantization_level": weights.quantization_level,
        }
        if with_lengths:
            details["context_length"] = weights.context_length
            details["embedding_length"] = weights.embedding_length
        return details

    def copy_as(self, name: ModelName, modified_at_ns: int) -> ModelSpec:
        return dataclasses.replace(self, name=name, modified_at_ns=modified_at_ns)


def smol(modified_at_ns: int = 0) -> ModelSpec:
    """The recording's ``smol`` (03, 04, 05)."""
    return ModelSpec(
        parse_name("smol"),  # type: ignore[arg-type]
        modified_at_ns=modified_at_ns,
        digest=SMOL_DIGEST,
        vram_size=160222411,
    )


def smol_lora(modified_at_ns: int = 0) -> ModelSpec:
    """The recording's ``smol-lora``: smol plus a random rank-8 LoRA (03, 18)."""
    return ModelSpec(
        parse_name("smol-lora"),  # type: ignore[arg-type]
        parent_model="smol:latest",
        adapter=LORA_ADAPTER,
        adapter_size=LORA_ADAPTER_SIZE,
        modified_at_ns=modified_at_ns,
        digest=LORA_DIGEST,
    )


# --------------------------------------------------------------------------------------------
# Layers and sizes
# --------------------------------------------------------------------------------------------


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def text_layer(text: str) -> tuple[str, int]:
    """A template or system layer: its digest is the sha256 of the text (17)."""
    data = text.encode("utf-8")
    return sha256_hex(data), len(data)


def params_layer(parameters: Mapping[str, Any]) -> tuple[str, int]:
    """The params layer: Go's json.Encoder output of the sorted map, newline included (17)."""
    data = go_json(dict(sorted(parameters.items()))) + b"\n"
    return sha256_hex(data), len(data)


def config_size(weights: Weights) -> int:
    """The config blob's size. It was 152 bytes for every llama/134.52M/Q4_1 model recorded;
    the strings it holds scale it for other models."""
    return (
        152
        + 2 * (len(weights.family) - 5)
        + len(weights.parameter_size)
        - 7
        + len(weights.quantization_level)
        - 4
    )


def parameter_count(parameter_size: str) -> int:
    """``"134.52M"`` -> 134520000, ``"7.6B"`` -> 7600000000."""
    scale = {"K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}
    match = re.fullmatch(r"([0-9.]+)([KMBT]?)", parameter_size.strip().upper())
    if not match:
        return 0
    return round(float(match.group(1)) * scale.get(match.group(2), 1))


# --------------------------------------------------------------------------------------------
# Show
# --------------------------------------------------------------------------------------------


def show_body(spec: ModelSpec, models_dir: str = MODELS_DIR) -> dict[str, Any]:
    """The non-verbose /api/show object, keys in the order of 04 (``system`` only when set,
    as in 17 exchange 2)."""
    body: dict[str, Any] = {}
    if spec.licenses:  # api.ShowResponse's first field, omitted when empty
        body["license"] = "\n".join(spec.licenses)
    body["modelfile"] = modelfile(spec, models_dir)
    if spec.parameters:
        body["parameters"] = parameters_text(spec.parameters)
    if spec.template:
        body["template"] = spec.template
    if spec.system:
        body["system"] = spec.system
    body["details"] = spec.details(with_lengths=False)
    body["model_info"] = spec.weights.model_info()
    body["tensors"] = spec.weights.tensors()
    body["capabilities"] = list(spec.capabilities)
    body["modified_at"] = rfc3339_nano(spec.modified_at_ns)
    return body


def modelfile(spec: ModelSpec, models_dir: str = MODELS_DIR) -> str:
    lines = [
        '# Modelfile generated by "ollama show"',
        "# To build a new Modelfile based on this, replace FROM with:",
        f"# FROM {spec.name.short}",
        "",
        f"FROM {models_dir}/blobs/sha256-{spec.weights.layer_digest}",
    ]
    if spec.adapter:
        lines.append(f"ADAPTER {models_dir}/blobs/sha256-{spec.adapter}")
    if spec.template:
        lines.append(f"TEMPLATE {modelfile_quote(spec.template)}")
    if spec.system:
        lines.append(f"SYSTEM {modelfile_quote(spec.system)}")
    for name, value in parameter_items(spec.parameters):
        lines.append(f"PARAMETER {name} {modelfile_quote(go_format_value(value))}")
    lines += [f"LICENSE {modelfile_quote(text)}" for text in spec.licenses]
    return "\n".join(lines) + "\n"


def modelfile_quote(text: str) -> str:
    """Ollama quotes a Modelfile value only when it needs to: ``"…"`` for a multi-line value and
    ``\"\"\"…\"\"\"`` when it also holds a quote (smol's TEMPLATE in 04 vs t1's in 17)."""
    if "\n" in text or text.startswith(" ") or text.endswith(" "):
        return f'"""{text}"""' if '"' in text else f'"{text}"'
    return text


def parameters_text(parameters: Mapping[str, Any]) -> str:
    """``ollama show``'s parameter block: names padded to 30, sorted, strings quoted (17)."""
    lines = []
    for name, value in parameter_items(parameters):
        # %#v quotes strings like strconv.Quote, without encoding/json's HTML escapes.
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else None
        lines.append(f"{name:<30} {shown or go_format_value(value)}")
    return "\n".join(lines)


def parameter_items(parameters: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    for name in sorted(parameters):
        value = parameters[name]
        for item in value if isinstance(value, list | tuple) else [value]:
            yield name, item
