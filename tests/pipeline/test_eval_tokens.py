"""The evaluation scores exactly the token sequences training trains on: the prompt with the
tokenizer's special tokens (BOS, for a tokenizer that adds one), the reply in one piece. With
Qwen2's tokenizer `<answer>The` ends in the single token `>The`, which must be scored as the
continuation's first token, not split into `>` and `The`. Both engines, on a tiny random Qwen2
with the real Qwen2 tokenizer made to start every sequence with a BOS (as Llama's does; Qwen's
and SmolLM2's add none, and the smoke evaluation covers those)."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from storyloom import prompting  # noqa: E402
from storyloom_pipeline.evaluation.models import parse_model  # noqa: E402
from storyloom_pipeline.train.examples import tokenize_chat  # noqa: E402

CONTEXT = "The lamp had gone out an hour before, and Mara sat in the dark listening to the house."
PROMPT = prompting.render_chatml(prompting.continuation_messages(CONTEXT))
PREFILL = prompting.ANSWER_OPEN
TARGET = "The door opened. Mara did not move, and the wind came in."
ENDOFTEXT = 151643  # Qwen2's <|endoftext|>, the BOS of the "bos" variant


@pytest.fixture(scope="module")
def tiny(qwen2_tokenizer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2 folder whose Qwen2 tokenizer adds a BOS."""
    from qwen2_tiny import tiny_qwen2_model
    from tokenizers.processors import TemplateProcessing
    from transformers import AutoTokenizer

    folder = tmp_path_factory.mktemp("tiny-bos") / "hf"
    tiny_qwen2_model().save_pretrained(folder)
    qwen2_tokenizer.save_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.bos_token = "<|endoftext|>"
    tokenizer._tokenizer.post_processor = TemplateProcessing(
        single="<|endoftext|> $A", special_tokens=[("<|endoftext|>", ENDOFTEXT)]
    )
    tokenizer.save_pretrained(folder)
    return folder


def training_sequence(tiny: Path) -> tuple[list[int], int, int]:
    """(training's token ids of the prompt + PREFILL + TARGET, where TARGET's tokens start,
    where they end): the target starts at the first reply token that decodes past PREFILL."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    messages = [*prompting.continuation_messages(CONTEXT)]
    messages.append({"role": "assistant", "content": PREFILL + TARGET})
    example = tokenize_chat(messages, tokenizer)
    ids, reply = example.input_ids, example.input_ids[example.prompt_length :]
    assert reply[-1] == tokenizer.convert_tokens_to_ids("<|im_end|>")  # not scored
    first = next(
        i for i in range(len(reply)) if len(tokenizer.decode(reply[: i + 1])) > len(PREFILL)
    )
    assert tokenizer.decode(reply[first]) == ">The"  # the token that straddles the two
    assert ids[0] == ENDOFTEXT and ENDOFTEXT not in ids[1:]  # one BOS, at the start
    return ids, example.prompt_length + first, len(ids) - 1


def test_the_transformers_engine_scores_what_training_trained_on(tiny: Path) -> None:
    from storyloom_pipeline.evaluation.engine_transformers import TransformersEngine

    ids, start, end = training_sequence(tiny)
    engine = TransformersEngine(parse_model(str(tiny)), threads=1)
    try:
        score = engine.score(PROMPT, PREFILL, TARGET)
        with torch.no_grad():
            logits = engine.model(torch.tensor([ids])).logits[0]
    finally:
        engine.close()
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    want = -sum(logprobs[i - 1, ids[i]].item() for i in range(start, end))
    assert score.tokens == end - start
    assert score.nll == pytest.approx(want, abs=1e-3)


def test_the_llama_cpp_engine_scores_what_training_trained_on(tiny: Path, tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    from storyloom_pipeline.evaluation.engine_llamacpp import LlamaCppEngine
    from storyloom_pipeline.export.engine import Engine
    from storyloom_pipeline.export.metadata import ExportInfo
    from storyloom_pipeline.export.model_gguf import export_merged

    ids, start, end = training_sequence(tiny)
    info = ExportInfo(name="tiny", tokenizer_pre="qwen2")
    gguf = export_merged(tiny, tmp_path, info, ["f32"])["f32"]
    engine = LlamaCppEngine(parse_model(str(gguf)), n_ctx=512, threads=1)
    try:
        score = engine.score(PROMPT, PREFILL, TARGET)
    finally:
        engine.close()
    with Engine(gguf, n_ctx=512, n_threads=1) as llama_cpp:
        nll = llama_cpp.token_nll(ids)  # llama.cpp's own numbers for training's ids
    assert score.tokens == end - start
    assert score.nll == pytest.approx(float(nll[start - 1 : end - 1].sum()), abs=1e-4)
