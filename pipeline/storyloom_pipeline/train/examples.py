"""Chat records -> token ids and labels, rendered exactly as the app renders requests.

A training example is the prompt the app sends, `render_chatml(messages[:-1])` (system turn
included, ending in the open assistant turn), followed by the reply the model must write: the
assistant's content and the `<|im_end|>` that stops generation. The two parts are tokenized
separately (`encode_turn`), so the prompt's ids are exactly the ids the model is given at
inference (a BPE merge across the boundary would otherwise teach it a prompt it never sees).
Only the reply carries loss: every prompt position is labelled -100. The evaluation's engines
tokenize with `encode_turn` too, so they score exactly the token sequences training used.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storyloom import prompting
from storyloom.prompting.format import IM_END

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100  # the label torch's cross-entropy skips
# (text, add special tokens) -> token ids: a transformers tokenizer (`hf_tokenize`), or the
# evaluation's llama.cpp engine
Tokenize = Callable[[str, bool], list[int]]


class DataError(ValueError):
    """A training set that cannot be used; the message names the file and the line."""


@dataclass(frozen=True)
class ChatTokens:
    input_ids: list[int]
    labels: list[int]  # IGNORE_INDEX on the prompt, the token id on the reply
    prompt_length: int

    def __len__(self) -> int:
        return len(self.input_ids)


def split_chat(messages: Sequence[Mapping[str, str]]) -> tuple[str, str]:
    """(prompt, reply): what the app sends for the turns before the last, and what the model
    must answer. `prompt + reply + "\\n"` is the whole conversation in ChatML."""
    if not messages or messages[-1].get("role") != "assistant":
        raise ValueError("a training conversation ends with the assistant's turn")
    if not any(m.get("role") == "user" for m in messages[:-1]):
        raise ValueError("a training conversation needs a user turn before the assistant's")
    return prompting.render_chatml(messages[:-1]), f"{messages[-1]['content']}{IM_END}"


def hf_tokenize(tokenizer: PreTrainedTokenizerBase) -> Tokenize:
    return lambda text, special: list(tokenizer(text, add_special_tokens=special)["input_ids"])


def encode_turn(tokenize: Tokenize, prompt: str, reply: str = "") -> tuple[list[int], list[int]]:
    """The token ids of a prompt and of the reply that follows it, each tokenized on its own.

    Special tokens on the prompt only: a tokenizer that starts sequences with BOS (as llama.cpp
    then does too) gets it once, at the start. This is the one tokenization of a conversation:
    training's examples and the evaluation's prompts and scored replies all come from here."""
    return tokenize(prompt, True), (tokenize(reply, False) if reply else [])


def tokenize_chat(
    messages: Sequence[Mapping[str, str]], tokenizer: PreTrainedTokenizerBase
) -> ChatTokens:
    prompt_ids, reply_ids = encode_turn(hf_tokenize(tokenizer), *split_chat(messages))
    return ChatTokens(
        input_ids=[*prompt_ids, *reply_ids],
        labels=[IGNORE_INDEX] * len(prompt_ids) + list(reply_ids),
        prompt_length=len(prompt_ids),
    )


def read_chat_split(folder: Path, split: str) -> list[list[dict[str, str]]]:
    """The conversations of `<folder>/<split>.jsonl` (`storyloom-pipeline dataset` output)."""
    path = folder / f"{split}.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        found = sorted(p.stem for p in folder.glob("*.jsonl")) if folder.is_dir() else []
        raise DataError(
            f"no {split} split: {path} does not exist"
            + (f" (splits there: {', '.join(found)})" if found else "")
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    conversations = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            conversations.append(_messages(json.loads(line)))
        except (json.JSONDecodeError, ValueError) as exc:
            raise DataError(f"{path}:{number}: {exc}") from None
    if not conversations:
        raise DataError(f"{path} holds no examples")
    return conversations


def _messages(record: Any) -> list[dict[str, str]]:
    messages = record.get("messages") if isinstance(record, dict) else None
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
        for m in messages
    ):
        raise ValueError('expected {"messages": [{"role": ..., "content": ...}, ...]}')
    split_chat(messages)  # the same checks as at tokenization, reported with the line number
    return [{"role": m["role"], "content": m["content"]} for m in messages]


@dataclass
class SplitStats:
    """What tokenization made of one split: kept, dropped as too long, and the lengths."""

    examples: int = 0
    dropped_too_long: int = 0
    lengths: list[int] = field(default_factory=list, repr=False)
    reply_tokens: int = 0  # tokens carrying loss, over the kept examples

    def summary(self) -> dict[str, Any]:
        return {
            "examples": self.examples,
            "dropped_too_long": self.dropped_too_long,
            "reply_tokens": self.reply_tokens,
            "length_percentiles": length_percentiles(self.lengths),
        }


def length_percentiles(lengths: Iterable[int]) -> dict[str, int]:
    """p50/p90/p95/p99/max of token counts (nearest rank), {} for none."""
    ordered = sorted(lengths)
    if not ordered:
        return {}

    def nearest_rank(q: int) -> int:
        return ordered[max(0, math.ceil(q * len(ordered) / 100) - 1)]

    return {f"p{q}": nearest_rank(q) for q in (50, 90, 95, 99)} | {"max": ordered[-1]}


def tokenize_split(
    conversations: Iterable[Sequence[Mapping[str, str]]],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
) -> tuple[list[ChatTokens], SplitStats]:
    """Tokenize every conversation; drop (and count) those longer than `max_length`.

    Dropped, not truncated: cutting the context would change the prompt format, and cutting the
    reply would teach the model to stop without `<|im_end|>`.
    """
    kept, stats = [], SplitStats()
    for messages in conversations:
        tokens = tokenize_chat(messages, tokenizer)
        stats.lengths.append(len(tokens))
        if len(tokens) > max_length:
            stats.dropped_too_long += 1
            continue
        kept.append(tokens)
        stats.examples += 1
        stats.reply_tokens += len(tokens) - tokens.prompt_length
    return kept, stats
