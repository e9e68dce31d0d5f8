"""What a GGUF file is, read from its header alone, before anything is uploaded.

Publishing checks that FROM is a model and ADAPTER an adapter, and that a file to be quantized
holds float weights, so a mistake is reported in a second instead of after uploading gigabytes.
gguf's own GGUFReader would do, but it maps the whole file and decodes every array (7 s for
the 98 MB SmolLM2 here); this reads the metadata and the tensor table and skips large arrays.
"""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from gguf import GGUF_MAGIC, GGMLQuantizationType, GGUFValueType, LlamaFileType

FLOAT_TENSOR_TYPES = frozenset({"F32", "F16", "BF16"})
FLOAT_FILE_TYPES = frozenset(
    {LlamaFileType.ALL_F32, LlamaFileType.MOSTLY_F16, LlamaFileType.MOSTLY_BF16}
)
_SCALARS = {
    GGUFValueType.UINT8: "<B",
    GGUFValueType.INT8: "<b",
    GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I",
    GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f",
    GGUFValueType.BOOL: "<?",
    GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q",
    GGUFValueType.FLOAT64: "<d",
}
_KEPT_ARRAY = 64  # longer arrays (the vocabulary) are skipped, their length kept


class GGUFError(ValueError):
    """A file that is not a readable GGUF."""


@dataclass(frozen=True)
class Skipped:
    """An array too long to keep: only its element type and length."""

    element: str
    length: int


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
        with path.open("rb") as file:
            return _read(file, path)
    except (OSError, struct.error, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, GGUFError):
            raise
        raise GGUFError(f"{path} is not a readable GGUF file ({exc})") from exc


def _read(file: BinaryIO, path: Path) -> GGUFInfo:
    magic, version = struct.unpack("<II", _exactly(file, 8))
    if magic != GGUF_MAGIC:
        raise GGUFError(f"{path} is not a GGUF file (it does not start with 'GGUF')")
    if version not in (2, 3):
        raise GGUFError(f"{path}: GGUF version {version} is not supported (2 or 3)")
    tensor_count, kv_count = struct.unpack("<QQ", _exactly(file, 16))
    metadata = {}
    for _ in range(kv_count):
        key = _string(file)
        metadata[key] = _value(file, GGUFValueType(_u32(file)))
    types: Counter[str] = Counter()
    for _ in range(tensor_count):
        _string(file)  # name
        dims = _u32(file)
        _exactly(file, 8 * dims)
        types[GGMLQuantizationType(_u32(file)).name] += 1
        _exactly(file, 8)  # offset
    return GGUFInfo(version, metadata, types)


def _value(file: BinaryIO, kind: GGUFValueType) -> Any:
    if kind == GGUFValueType.STRING:
        return _string(file)
    if kind == GGUFValueType.ARRAY:
        element = GGUFValueType(_u32(file))
        (length,) = struct.unpack("<Q", _exactly(file, 8))
        if length > _KEPT_ARRAY:
            _skip_array(file, element, length)
            return Skipped(element.name, length)
        return [_value(file, element) for _ in range(length)]
    return struct.unpack(_SCALARS[kind], _exactly(file, struct.calcsize(_SCALARS[kind])))[0]


def _skip_array(file: BinaryIO, element: GGUFValueType, length: int) -> None:
    if element in _SCALARS:
        file.seek(length * struct.calcsize(_SCALARS[element]), 1)
        return
    for _ in range(length):
        _value(file, element)


def _string(file: BinaryIO) -> str:
    (length,) = struct.unpack("<Q", _exactly(file, 8))
    return _exactly(file, length).decode("utf-8")


def _u32(file: BinaryIO) -> int:
    return int(struct.unpack("<I", _exactly(file, 4))[0])


def _exactly(file: BinaryIO, size: int) -> bytes:
    data = file.read(size)
    if len(data) != size:
        raise GGUFError(f"{getattr(file, 'name', 'the file')} ends inside its GGUF header")
    return data
