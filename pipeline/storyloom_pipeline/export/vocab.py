"""The tokenizer of a transformers folder as GGUF metadata (llama.cpp's "gpt2" BPE vocabulary).

Byte-level BPE only (SmolLM2, Qwen2/2.5, Llama 3): tokens, token types, merges, special ids,
whether BOS/EOS are added, the chat template. The pre-tokenizer name (`smollm`, `qwen2`, …) that
llama.cpp needs cannot be read from tokenizer.json: the recipe supplies it, and `verify`
catches a wrong one by comparing llama.cpp's tokenization with transformers'.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf

# Added tokens written like <|im_start|> are control tokens even when not flagged special.
_LOOKS_SPECIAL = re.compile(r"^<\|.*\|>$")


class VocabError(ValueError):
    """A tokenizer this exporter cannot express in GGUF; the message says why."""


@dataclass(frozen=True)
class Vocab:
    tokens: list[str]
    token_types: list[int]
    merges: list[str]
    special_ids: dict[str, int]  # bos, eos, unk, pad: those the tokenizer defines
    add_bos: bool
    add_eos: bool
    chat_template: str | None

    def write_to(self, writer: gguf.GGUFWriter, pre_tokenizer: str) -> None:
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre(pre_tokenizer)
        writer.add_token_list(self.tokens)
        writer.add_token_types(self.token_types)
        writer.add_token_merges(self.merges)
        adders = {
            "bos": writer.add_bos_token_id,
            "eos": writer.add_eos_token_id,
            "unk": writer.add_unk_token_id,
            "pad": writer.add_pad_token_id,
        }
        for role, token_id in self.special_ids.items():
            adders[role](token_id)
        writer.add_add_bos_token(self.add_bos)
        writer.add_add_eos_token(self.add_eos)
        if self.chat_template:
            writer.add_chat_template(self.chat_template)


def read_vocab(model_dir: Path, vocab_size: int) -> Vocab:
    """The vocabulary of the tokenizer saved in `model_dir`, padded to `vocab_size` rows (the
    embedding matrix may be larger than the tokenizer: Qwen2.5 has 151,646 tokens in 151,936
    rows; the extra rows become unused `[PAD<i>]` tokens, as llama.cpp's converter writes)."""
    path = model_dir / "tokenizer.json"
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VocabError(f"cannot read the fast tokenizer {path}: {exc}") from exc
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        raise VocabError(
            f"{path}: only byte-level BPE tokenizers are supported, not {model.get('type')!r}"
        )
    by_id: dict[int, tuple[str, int]] = {
        token_id: (token, gguf.TokenType.NORMAL) for token, token_id in model["vocab"].items()
    }
    for added in spec.get("added_tokens") or []:
        control = added.get("special") or _LOOKS_SPECIAL.match(added["content"])
        kind = gguf.TokenType.CONTROL if control else gguf.TokenType.USER_DEFINED
        by_id[added["id"]] = (added["content"], kind)
    if max(by_id) >= vocab_size:
        raise VocabError(
            f"the tokenizer has token id {max(by_id)} but the model only {vocab_size} embeddings"
        )
    tokens, types = [], []
    for token_id in range(vocab_size):
        token, kind = by_id.get(token_id, (f"[PAD{token_id}]", gguf.TokenType.UNUSED))
        tokens.append(token)
        types.append(int(kind))
    return Vocab(
        tokens=tokens,
        token_types=types,
        merges=[_merge(pair, path) for pair in model.get("merges") or []],
        **_tokenizer_behaviour(model_dir),
    )


def _merge(pair: Any, path: Path) -> str:
    # tokenizers writes merges as "a b" (older files) or as ["a", "b"] pairs.
    parts = pair.split(" ") if isinstance(pair, str) else list(pair)
    if len(parts) != 2 or not all(parts):
        raise VocabError(f"{path}: cannot write the merge {pair!r} as GGUF's 'a b'")
    return " ".join(parts)


def _tokenizer_behaviour(model_dir: Path) -> dict[str, Any]:
    """Special ids, BOS/EOS insertion and the chat template, as transformers uses them."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    special_ids = {
        role: getattr(tokenizer, f"{role}_token_id") for role in ("bos", "eos", "unk", "pad")
    }
    if special_ids["bos"] is None:
        # Qwen2.5 names no BOS token but its config does; llama.cpp's converter writes that one.
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        special_ids["bos"] = config.get("bos_token_id")
    # Whether BOS/EOS are added is decided by the tokenizer's post-processor: observe it.
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a")["input_ids"]
    add_bos = len(full) > len(plain) and full[0] == tokenizer.bos_token_id
    add_eos = len(full) > len(plain) and full[-1] == tokenizer.eos_token_id
    template = tokenizer.chat_template
    return {
        "special_ids": {role: i for role, i in special_ids.items() if isinstance(i, int)},
        "add_bos": bool(add_bos),
        "add_eos": bool(add_eos),
        "chat_template": template if isinstance(template, str) else None,
    }
