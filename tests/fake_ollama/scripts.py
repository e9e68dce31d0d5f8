"""What the fake model says, and how its words are cut into tokens.

A real model streams one NDJSON line per token, and tokens do not respect word or tag boundaries:
smol answered ``" ench"``, ``"ant"`` (06-generate-stream). The app must cope with that, so a test
scripts the exact pieces the fake sends (a ``Script``), or cuts a whole reply with the same kind of
rule (``split_tokens``), or cuts a ``<reasoning>…</reasoning><answer>…</answer>`` reply so that
every tag straddles a boundary (``straddling_chunks``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

# The error Ollama streams when its llama-server runner dies mid-generation (23).
RUNNER_EOF = "an error was encountered while running the model: unexpected EOF"

# GPT-2 style pre-tokenizer pieces: special tokens such as <|im_start|>, a word with its leading
# space, up to three digits, a run of punctuation, or whitespace.
_PIECES = re.compile(
    r"<\|[^|<>\s]{1,40}\|>"
    r"|'(?:s|t|re|ve|m|ll|d)\b"
    r"| ?[^\W\d_]+"
    r"| ?\d{1,3}"
    r"| ?(?:(?!<\|)[^\s\w]|_)+"
    r"|\s+(?!\S)"
    r"|\s+"
)
_TAG = re.compile(r"</?[A-Za-z][\w-]*>")


def estimate_tokens(text: str) -> int:
    """The default token counter: the number of GPT-2 style pre-tokenizer pieces.

    Deterministic and close to a real BPE count for English: each ``<|…|>`` special token is one
    token, each word with its leading space is one, punctuation runs and newlines are one each.
    Real tokenizers split rarer words further, so real counts run about 5 % higher: smol's
    rendering of "Once upon a time" estimates 12 (real 13, 06), the 600-word prompt of
    13-truncation 683 (real 719). Plug in another counter where exact counts matter.
    """
    return len(_PIECES.findall(text))


def split_tokens(text: str, *, max_len: int = 7) -> list[str]:
    """Cut ``text`` into token-sized chunks: pre-tokenizer pieces, with pieces longer than
    ``max_len`` characters cut after four letters (``" enchant"`` -> ``" ench"``, ``"ant"``,
    as smol did in 06). ``"".join(split_tokens(t)) == t`` always holds."""
    chunks: list[str] = []
    position = 0
    for match in _PIECES.finditer(text):
        if match.start() > position:  # nothing is skipped, but never lose a character
            chunks.append(text[position : match.start()])
        piece = match.group()
        while len(piece) > max_len and not piece.startswith("<|"):
            cut = 5 if piece.startswith(" ") else 4
            chunks.append(piece[:cut])
            piece = piece[cut:]
        chunks.append(piece)
        position = match.end()
    if position < len(text):
        chunks.append(text[position:])
    return chunks


def tagged_reply(reasoning: str, answer: str) -> str:
    """The cra-v1 reply format: ``<reasoning>…</reasoning><answer>…</answer>``."""
    return f"<reasoning>{reasoning}</reasoning><answer>{answer}</answer>"


def straddling_chunks(text: str, *, glue: bool = False, max_len: int = 7) -> list[str]:
    """Token chunks in which every ``<tag>`` and ``</tag>`` is cut inside its name.

    ``"<reasoning>"`` becomes ``"<reason"``, ``"ing>"`` and ``"<answer>"`` becomes ``"<ans"``,
    ``"wer>"``. With ``glue=True`` the halves also share a chunk with their neighbours
    (``".</reason"``, ``"ing><ans"``, ``"wer>The"``), the hardest case for a streaming parser.
    Text between tags is cut with ``split_tokens``.
    """
    parts: list[tuple[str, str]] = []  # (kind, text); kind is "text", "head" or "tail"
    position = 0
    for match in _TAG.finditer(text):
        parts += [("text", piece) for piece in split_tokens(text[position : match.start()])]
        tag = match.group()
        name_start = 2 if tag.startswith("</") else 1
        cut = name_start + max(1, len(tag) - name_start - 4)
        parts += [("head", tag[:cut]), ("tail", tag[cut:])]
        position = match.end()
    parts += [("text", piece) for piece in split_tokens(text[position:], max_len=max_len)]
    if not glue:
        return [piece for _, piece in parts]
    chunks: list[str] = []
    previous = ""
    for kind, piece in parts:
        if chunks and (kind == "head" or previous == "tail"):
            chunks[-1] += piece
        else:
            chunks.append(piece)
        previous = kind
    return chunks


@dataclass(frozen=True)
class Script:
    """What a model answers, token by token, and how the answer goes wrong.

    ``chunks`` is the list of token texts; a plain string is cut with ``split_tokens``.
    ``delay`` paces the token lines, one every ``delay`` seconds (smol: 18-19 ms, 06 timing).
    ``done_reason`` ends a reply that runs out of chunks: ``"stop"`` (the model emitted EOS, which
    Ollama counts in ``eval_count``, 07) or ``"length"``. ``options.num_predict`` and
    ``options.stop`` still cut the reply as they would a real one.
    ``error_after=N``: after N token lines send ``{"error": error_message}`` as the last line under
    HTTP 200 and no done chunk (23); with ``stream:false`` the answer is a 500. If the reply ends
    before N lines, the error replaces the done chunk.
    ``stall_after=N``: after N token lines send nothing for ``stall_seconds`` (``None``: until the
    client disconnects or the server stops) while keeping the connection open, then go on.
    """

    chunks: Sequence[str] | str = ()
    delay: float = 0.0
    done_reason: Literal["stop", "length"] = "stop"
    error_after: int | None = None
    error_message: str = RUNNER_EOF
    stall_after: int | None = None
    stall_seconds: float | None = None

    def __post_init__(self) -> None:
        chunks = self.chunks
        normalized = tuple(split_tokens(chunks) if isinstance(chunks, str) else chunks)
        object.__setattr__(self, "chunks", normalized)
        if self.done_reason not in ("stop", "length"):
            raise ValueError(f"done_reason must be 'stop' or 'length', not {self.done_reason!r}")

    @classmethod
    def from_text(
        cls, text: str, *, chunker: Callable[[str], list[str]] = split_tokens, **options: object
    ) -> Script:
        """A script whose chunks are ``chunker(text)``; ``options`` are the other fields."""
        return cls(chunks=chunker(text), **options)  # type: ignore[arg-type]

    @property
    def text(self) -> str:
        return "".join(self.chunks)


# smol's greedy continuation of "Once upon a time", token by token as recorded in 06, then
# carried on so that a num_predict of 12 cuts it exactly where the recording stopped.
DEFAULT_REPLY = (
    *("The", " world", " of", " magic", " is", " a", " realm", " of", " wonder", " and"),
    *(" ench", "ant", "ment", ",", " where", " every", " shadow", " hides", " a", " story", "."),
)


@dataclass(frozen=True)
class PromptInfo:
    """What a script function gets to decide the reply (see ``FakeOllama.set_script``)."""

    endpoint: str  # "generate" or "chat"
    model: str  # the model name as the client sent it
    prompt: str  # the rendered prompt (the raw prompt when raw:true)
    messages: tuple[dict[str, str], ...] = field(default=())  # chat messages as sent


ScriptSource = Script | Callable[[PromptInfo], Script]


@dataclass(frozen=True)
class Plan:
    """The token lines a script produces under num_predict and stop strings.

    ``steps`` has one entry per generated token: the text to send for it, or ``""`` while the
    text is held back because it could be the start of a stop string (as llama-server does).
    """

    steps: tuple[str, ...]
    done_reason: str
    eval_count: int  # generated tokens as Ollama reports them (EOS included when it stopped)

    @property
    def text(self) -> str:
        return "".join(self.steps)


def plan_reply(
    chunks: Sequence[str], *, num_predict: int, stops: Sequence[str], done_reason: str
) -> Plan:
    """Apply ``num_predict`` (negative: unlimited) and ``stop`` strings to a scripted reply."""
    limit = len(chunks) if num_predict < 0 else min(len(chunks), num_predict)
    stops = [stop for stop in stops if stop]
    steps: list[str] = []
    held = ""
    for chunk in chunks[:limit]:
        held += chunk
        hits = [index for index in (held.find(stop) for stop in stops) if index >= 0]
        if hits:
            steps.append(held[: min(hits)])
            return Plan(tuple(steps), "stop", len(steps))
        keep = _longest_stop_prefix(held, stops)
        steps.append(held[: len(held) - keep])
        held = held[len(held) - keep :]
    if held:  # generation ended on a partial stop string: it was not a stop after all
        steps[-1] += held
    if 0 <= num_predict <= len(chunks):
        return Plan(tuple(steps), "length", len(steps))
    # A reply that ends by itself ended on EOS, which Ollama counts: 5 lines, eval_count 6 (07).
    eos = 1 if done_reason == "stop" else 0
    return Plan(tuple(steps), done_reason, len(steps) + eos)


def _longest_stop_prefix(text: str, stops: Sequence[str]) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of a stop string."""
    best = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), best, -1):
            if text.endswith(stop[:size]):
                best = size
                break
    return best
