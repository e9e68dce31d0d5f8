"""Reading a GGUF file back: its metadata and its tensors, straight from the format.

gguf-py's `GGUFReader` builds an object per array element, which takes 30+ s for a Qwen2
vocabulary (151,936 tokens plus 151,387 merges); this reader takes well under a second, and,
not being the code that wrote the file, checks the writer rather than agreeing with it.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np

V = gguf.GGUFValueType
_SCALARS: dict[V, str] = {
    V.UINT8: "<B",
    V.INT8: "<b",
    V.UINT16: "<H",
    V.INT16: "<h",
    V.UINT32: "<I",
    V.INT32: "<i",
    V.FLOAT32: "<f",
    V.BOOL: "<?",
    V.UINT64: "<Q",
    V.INT64: "<q",
    V.FLOAT64: "<d",
}
_NUMPY: dict[V, str] = {kind: fmt.replace("?", "b") for kind, fmt in _SCALARS.items()}


class GgufFormatError(ValueError):
    """Not a GGUF file, or a damaged one; the message says where."""


@dataclass(frozen=True)
class GgufTensor:
    name: str
    shape: tuple[int, ...]  # numpy order (rows first), as transformers shapes are
    type: gguf.GGMLQuantizationType
    offset: int  # from the start of the file
    nbytes: int
    path: Path

    def array(self) -> np.ndarray:
        """The tensor as float32 (dequantized), in its numpy shape."""
        raw = np.fromfile(self.path, dtype=np.uint8, count=self.nbytes, offset=self.offset)
        return gguf.quants.dequantize(raw, self.type).reshape(self.shape).astype(np.float32)


@dataclass(frozen=True)
class GgufFile:
    path: Path
    version: int
    metadata: dict[str, Any]
    tensors: dict[str, GgufTensor]


def read_gguf(path: Path) -> GgufFile:
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return _Parser(data, path).parse()


class _Parser:
    def __init__(self, data: mmap.mmap, path: Path) -> None:
        self.data, self.path, self.at = data, path, 0

    def parse(self) -> GgufFile:
        if self.data[:4] != b"GGUF":
            raise GgufFormatError(f"{self.path} is not a GGUF file (it does not start with 'GGUF')")
        self.at = 4
        version = self._scalar("<I")
        if version not in (2, 3):
            raise GgufFormatError(f"{self.path}: GGUF version {version} is not supported (2 or 3)")
        n_tensors, n_kv = self._scalar("<Q"), self._scalar("<Q")
        metadata = {}
        for _ in range(n_kv):
            key = self._string()
            metadata[key] = self._value(V(self._scalar("<I")))
        infos = []
        for _ in range(n_tensors):
            name = self._string()
            dims = [self._scalar("<Q") for _ in range(self._scalar("<I"))]
            kind = gguf.GGMLQuantizationType(self._scalar("<I"))
            infos.append((name, tuple(reversed(dims)), kind, self._scalar("<Q")))
        alignment = metadata.get(gguf.Keys.General.ALIGNMENT, gguf.GGUF_DEFAULT_ALIGNMENT)
        start = -(-self.at // alignment) * alignment
        tensors = {}
        for name, shape, kind, offset in infos:
            byte_shape = gguf.quants.quant_shape_to_byte_shape(shape, kind)
            nbytes = int(np.prod(byte_shape)) if shape else 0
            if start + offset + nbytes > len(self.data):
                raise GgufFormatError(f"{self.path}: tensor {name} runs past the end of the file")
            tensors[name] = GgufTensor(name, shape, kind, start + offset, nbytes, self.path)
        return GgufFile(self.path, version, metadata, tensors)

    def _scalar(self, fmt: str) -> Any:
        try:
            (value,) = struct.unpack_from(fmt, self.data, self.at)
        except struct.error:
            raise GgufFormatError(f"{self.path} ends inside its header") from None
        self.at += struct.calcsize(fmt)
        return value

    def _string(self) -> str:
        size = self._scalar("<Q")
        if self.at + size > len(self.data):
            raise GgufFormatError(f"{self.path} ends inside its header")
        raw = self.data[self.at : self.at + size]
        self.at += size
        return raw.decode("utf-8", errors="replace")

    def _value(self, kind: V) -> Any:
        if kind == V.STRING:
            return self._string()
        if kind == V.ARRAY:
            item, count = V(self._scalar("<I")), self._scalar("<Q")
            if item in _NUMPY:  # numbers: one read for the whole array
                array = np.frombuffer(self.data, _NUMPY[item], count, self.at)
                self.at += array.nbytes
                return array.tolist()
            return [self._value(item) for _ in range(count)]
        if kind in _SCALARS:
            return self._scalar(_SCALARS[kind])
        raise GgufFormatError(f"{self.path}: unknown value type {kind}")
