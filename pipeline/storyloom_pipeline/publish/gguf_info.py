"""What a GGUF file is, from its header, before anything is uploaded.

Publishing checks that FROM is a model and ADAPTER an adapter, and that a file to be quantized
holds float weights, so a mistake is reported in a second instead of after uploading gigabytes.
The header is read by the export stage's reader (one GGUF parser in the pipeline).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gguf import LlamaFileType

from storyloom_pipeline.export.reader import GgufFormatError, read_gguf

FLOAT_TENSOR_TYPES = frozenset({"F32", "F16", "BF16"})
FLOAT_FILE_TYPES = frozenset(
    {LlamaFileType.ALL_F32, LlamaFileType.MOSTLY_F16, LlamaFileType.MOSTLY_BF16}
)


class GGUFError(ValueError):
    """A file that is not a readable GGUF."""


@dataclass(frozen=True)
class GGUFInfo:
    version: int
    metadata: dict[str, Any]
    tensor_types: Counter[str] = field(default_factory=Counter)

    @property
    def kind(self) -> str:
        """`model` or `adapter` (llama.cpp's general.type; a model when it is missing)."""
        return str(self.metadata.get("general.type", "model"))

    @property
    def architecture(self) -> str | None:
        value = self.metadata.get("general.architecture")
        return None if value is None else str(value)

    @property
    def float_weights(self) -> bool:
        """Whether Ollama can quantize it: F32, F16 or BF16 by general.file_type, or, when the
        file does not say, by the types of its tensors."""
        file_type = self.metadata.get("general.file_type")
        if isinstance(file_type, int):
            return file_type in FLOAT_FILE_TYPES
        return bool(self.tensor_types) and set(self.tensor_types) <= FLOAT_TENSOR_TYPES

    @property
    def weight_types(self) -> str:
        return ", ".join(f"{name} x{count}" for name, count in self.tensor_types.most_common())


def read_gguf_info(path: Path) -> GGUFInfo:
    try:
        gguf_file = read_gguf(path)
    except GgufFormatError as exc:
        raise GGUFError(str(exc)) from exc
    except (OSError, ValueError) as exc:  # unreadable, or empty (mmap refuses 0 bytes)
        raise GGUFError(f"{path} is not a readable GGUF file ({exc})") from exc
    types = Counter(tensor.type.name for tensor in gguf_file.tensors.values())
    return GGUFInfo(gguf_file.version, gguf_file.metadata, types)
