"""A merged transformers model (llama or qwen2) as a GGUF file, written with the `gguf` library.

F32, F16 and BF16, and gguf-py's own Q8_0/Q5_0/Q4_0; any other llama.cpp type (the K-quants)
is made from the most precise float file by llama.cpp's quantizer (`engine.quantize`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from storyloom_pipeline.export.files import replacing
from storyloom_pipeline.export.hf_model import HfModel, LazyTensor
from storyloom_pipeline.export.metadata import ExportInfo
from storyloom_pipeline.export.types import FLOAT_TYPES, GgufType, gguf_file_name, gguf_type
from storyloom_pipeline.export.vocab import Vocab, read_vocab

log = logging.getLogger(__name__)
Q = gguf.GGMLQuantizationType


@dataclass(frozen=True)
class _Planned:
    source: LazyTensor
    qtype: Q

    @property
    def nbytes(self) -> int:
        return int(np.prod(gguf.quants.quant_shape_to_byte_shape(self.source.shape, self.qtype)))


def export_merged(
    model_dir: Path,
    out_dir: Path,
    info: ExportInfo,
    types: Sequence[str] = ("f16",),
    *,
    n_threads: int | None = None,
    on_written: Callable[[Path], None] | None = None,
) -> dict[str, Path]:
    """Write the merged model in `model_dir` as `<out_dir>/<name>-<TYPE>.gguf` for each type
    (`f32`, `f16`, `bf16`, `q8_0`, `q5_0`, `q4_0`, and with llama.cpp installed any of its
    types such as `q4_k_m`). Returns {type as given: path}; `on_written` hears of each file
    as it is finished."""
    report = on_written or (lambda _path: None)
    model = HfModel(model_dir)
    model.weight_files()  # no weights: say so before reading the vocabulary
    wanted = {name: gguf_type(name) for name in types}
    needs_llama_cpp = [name for name, t in wanted.items() if t.matrix is None]
    if needs_llama_cpp:
        from storyloom_pipeline.export import engine

        engine.library()  # EngineUnavailable now, before minutes of writing
    vocab = read_vocab(model_dir, model.vocab_size)
    written: dict[str, Path] = {}
    for name, kind in wanted.items():
        if kind.matrix is not None:
            written[name] = write_model_gguf(
                model, out_dir / gguf_file_name(info.name, name), kind, info, vocab
            )
            report(written[name])
    if needs_llama_cpp:
        written.update(
            _quantize_with_llama_cpp(
                model, out_dir, info, vocab, written, needs_llama_cpp, n_threads, report
            )
        )
    return {name: written[name] for name in types}


def _quantize_with_llama_cpp(
    model: HfModel,
    out_dir: Path,
    info: ExportInfo,
    vocab: Vocab,
    written: dict[str, Path],
    names: list[str],
    n_threads: int | None,
    report: Callable[[Path], None],
) -> dict[str, Path]:
    from storyloom_pipeline.export import engine

    # Quantize from the most precise float file asked for, else from a temporary F16: under
    # a name of its own, so that an F16 already there (not asked for now) is left alone.
    source = next((written[t] for t in FLOAT_TYPES if t in written), None)
    temporary = source is None
    if source is None:
        source = write_model_gguf(
            model,
            out_dir / f".{gguf_file_name(info.name, 'f16')}.quantize-source",
            gguf_type("f16"),
            info,
            vocab,
        )
    try:
        quantized = {}
        for name in names:
            out = out_dir / gguf_file_name(info.name, name)
            quantized[name] = engine.quantize(source, out, name, n_threads=n_threads)
            report(out)
        return quantized
    finally:
        if temporary:
            source.unlink(missing_ok=True)


def write_model_gguf(
    model: HfModel, out: Path, kind: GgufType, info: ExportInfo, vocab: Vocab | None = None
) -> Path:
    """One GGUF of `model` in the type `kind` (one gguf-py can write)."""
    if kind.matrix is None:
        raise ValueError(f"gguf-py cannot write {kind.name}; use engine.quantize on an F16 file")
    vocab = vocab or read_vocab(model.folder, model.vocab_size)
    plan = [_plan(tensor, kind.matrix) for tensor in model.gguf_tensors()]
    started = time.perf_counter()
    with replacing(out) as partial:
        writer = gguf.GGUFWriter(partial, model.arch_name)
        info.write_to(writer, "model")
        model.write_hparams(writer)
        writer.add_file_type(kind.file_type)
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        vocab.write_to(writer, info.tokenizer_pre)
        for planned in plan:
            writer.add_tensor_info(
                planned.source.name,
                planned.source.shape,
                np.dtype(np.float32),
                planned.nbytes,
                planned.qtype,
            )
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        # Tensors are converted and written one at a time: memory stays at one tensor.
        for planned in plan:
            writer.write_tensor_data(gguf.quants.quantize(planned.source.load(), planned.qtype))
        writer.close()
    log.info("wrote %s (%d tensors) in %.1f s", out, len(plan), time.perf_counter() - started)
    return out


def _plan(tensor: LazyTensor, matrix: Q) -> _Planned:
    if len(tensor.shape) == 1:
        return _Planned(tensor, Q.F32)  # norms and biases: llama.cpp wants them in F32
    block_size, _ = gguf.GGML_QUANT_SIZES[matrix]
    if tensor.shape[-1] % block_size:
        log.warning(
            "%s: rows of %d do not split into blocks of %d; F16 instead",
            tensor.name,
            tensor.shape[-1],
            block_size,
        )
        return _Planned(tensor, Q.F16)
    return _Planned(tensor, matrix)


def source_tensors(model_dir: Path) -> dict[str, Callable[[], np.ndarray]]:
    """{GGUF tensor name: loader of the source weight in GGUF layout}, for `verify_gguf`."""
    return {tensor.name: tensor.load for tensor in HfModel(model_dir).gguf_tensors()}
