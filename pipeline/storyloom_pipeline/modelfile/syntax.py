"""Ollama Modelfiles as data: read them with Ollama's own grammar, write them so they read back.

Ollama's parser (parser/parser.go, ParseFile) is a small state machine with no escapes at all:

- a line is `INSTRUCTION value` (instruction names are case-insensitive), `#` starts a comment
  only where an instruction could start;
- a value runs to the end of its line, unless it starts with a quote: then it runs to the first
  line end at which the text so far, trimmed, is a whole `"…"` or `\"\"\"…\"\"\"`;
- spaces, tabs and (inside quotes) line ends are kept; every other character that Go's
  `strconv.IsPrint` rejects (control and format characters, non-ASCII spaces) is silently
  dropped.

So a value that contains `\"\"\"` right before a line break ends early and the next line is read
as an instruction: that is how a hostile SYSTEM or TEMPLATE would inject a `FROM`. `quote`
therefore never guesses: it tries the plain, `\"\"\"…\"\"\"` and `"…"` forms and keeps the first
that this very parser reads back as the same value, and refuses text that no form can carry
(or that Ollama would silently alter) with a `ModelfileError`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# Every instruction Ollama knows; the last four are valid there but not supported by publish.
INSTRUCTIONS = ("FROM", "ADAPTER", "TEMPLATE", "SYSTEM", "PARAMETER", "MESSAGE", "LICENSE")
UNSUPPORTED = ("REQUIRES", "RENDERER", "PARSER", "DRAFT")
MESSAGE_ROLES = ("system", "user", "assistant")

# PARAMETER names and their types (api.Options and api.Runner; reference 1.3). `stop` repeats.
INT_PARAMETERS = frozenset(
    {"num_ctx", "num_predict", "num_keep", "seed", "top_k", "repeat_last_n", "num_batch"}
    | {"num_gpu", "main_gpu", "num_thread", "draft_num_predict"}
)
FLOAT_PARAMETERS = frozenset(
    {"temperature", "top_p", "min_p", "typical_p", "repeat_penalty", "presence_penalty"}
    | {"frequency_penalty"}
)
BOOL_PARAMETERS = frozenset({"use_mmap"})
LIST_PARAMETERS = frozenset({"stop"})
# Accepted by Ollama's parser with a warning, then ignored: an error here, not a silent no-op.
DEPRECATED_PARAMETERS = frozenset(
    {"penalize_newline", "low_vram", "f16_kv", "logits_all", "vocab_only", "use_mlock"}
    | {"mirostat", "mirostat_tau", "mirostat_eta"}
)

ParameterValue = int | float | bool | str

_SPACES = " \t"
_NEWLINES = "\r\n"
_TRIMMED = " \t\r\n"  # Go's TrimSpace, for the only whitespace that reaches the buffer
_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_BOOLS = {"1": True, "t": True, "true": True, "0": False, "f": False, "false": False}


class ModelfileError(ValueError):
    """A Modelfile that cannot be read, or a value that cannot be written into one."""


@dataclass(frozen=True)
class Modelfile:
    """One Modelfile. `header` holds the comment lines at the top (without their `# `).

    `from_` is a GGUF path (relative to the Modelfile's folder) or an Ollama model name;
    `parameters` keeps the written order, with one `("stop", text)` pair per stop string.
    """

    from_: str
    adapter: str | None = None
    template: str | None = None
    system: str | None = None
    parameters: tuple[tuple[str, ParameterValue], ...] = ()
    messages: tuple[tuple[str, str], ...] = ()
    licenses: tuple[str, ...] = ()
    header: tuple[str, ...] = ()

    def parameter_dict(self) -> dict[str, Any]:
        """The parameters as /api/create takes them: `stop` a list, the rest plain values."""
        out: dict[str, Any] = {}
        for name, value in self.parameters:
            if name in LIST_PARAMETERS:
                out.setdefault(name, []).append(value)
            else:
                out[name] = value
        return out

    def header_field(self, key: str) -> str | None:
        """The value of a `Key: value` header line, if there is one."""
        prefix = f"{key}:"
        for line in self.header:
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
        return None


def looks_like_path(value: str) -> bool:
    """Whether a FROM or ADAPTER value is meant as a file. Ollama takes any value that names no
    existing file for a model name and tries to pull it, so a mistyped path must not get there."""
    return value.endswith(".gguf") or value.startswith(("/", "./", "../", "~")) or "\\" in value


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def render(modelfile: Modelfile) -> str:
    """The Modelfile's text; `parse(render(m)) == m` for every Modelfile this accepts."""
    lines = [_comment(line) for line in modelfile.header]
    if lines:
        lines.append("")
    lines.append(f"FROM {quote(modelfile.from_)}")
    if modelfile.adapter is not None:
        lines.append(f"ADAPTER {quote(modelfile.adapter)}")
    if modelfile.template is not None:
        lines.append(f"TEMPLATE {quote(modelfile.template)}")
    if modelfile.system is not None:
        lines.append(f"SYSTEM {quote(modelfile.system)}")
    _check_parameters(modelfile.parameters)
    for name, value in modelfile.parameters:
        lines.append(f"PARAMETER {name} {quote(format_parameter(value))}")
    for role, text in modelfile.messages:
        if role not in MESSAGE_ROLES:
            raise ModelfileError(f"MESSAGE role must be one of {MESSAGE_ROLES}, not {role!r}")
        lines.append(f"MESSAGE {role} {quote(text)}")
    lines += [f"LICENSE {quote(text)}" for text in modelfile.licenses]
    return "\n".join(lines) + "\n"


def quote(value: str) -> str:
    """`value` as a Modelfile argument that Ollama's parser reads back unchanged.

    Ollama's own writer prefers the plain form, then `\"\"\"…\"\"\"` when the text holds a quote,
    else `"…"`; the same preference is kept here, but each form is checked by parsing it.
    """
    dropped = sorted({ch for ch in value if not _kept(ch)})
    if dropped:
        names = ", ".join(f"U+{ord(ch):04X}" for ch in dropped)
        raise ModelfileError(
            f"Ollama's Modelfile parser would silently drop {names} from {value!r}"
        )
    triple, double = f'"""{value}"""', f'"{value}"'
    forms = [value, triple, double] if '"' in value else [value, double, triple]
    for form in forms:
        if form and _reads_back(form, value):
            return form
    raise ModelfileError(
        f"no Modelfile quoting can carry {value!r}: a line of it ends in quotes, which would "
        "end a quoted value early (Modelfiles have no escapes)"
    )


def format_parameter(value: ParameterValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        raise ModelfileError(f"a PARAMETER value must be finite, not {value!r}")
    return value if isinstance(value, str) else repr(value)


def _comment(line: str) -> str:
    if any(ch in _NEWLINES for ch in line):
        raise ModelfileError(f"a header comment line cannot hold a line break: {line!r}")
    return f"# {line}" if line else "#"


def _kept(ch: str) -> bool:
    return ch.isprintable() or ch in _SPACES or ch in _NEWLINES


def _reads_back(form: str, value: str) -> bool:
    try:
        return _commands(f"FROM x\nSYSTEM {form}\n")[1] == [("from", "x"), ("system", value)]
    except ModelfileError:
        return False


def _check_parameters(parameters: tuple[tuple[str, ParameterValue], ...]) -> None:
    seen: set[str] = set()
    for name, value in parameters:
        typed = _typed(name, format_parameter(value))
        if typed != value or type(typed) is not type(value):
            raise ModelfileError(f"PARAMETER {name} cannot be {value!r}")
        if name in seen and name not in LIST_PARAMETERS:
            raise ModelfileError(f"PARAMETER {name} is given twice")
        seen.add(name)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def parse(text: str) -> Modelfile:
    """Read a Modelfile as Ollama does, then check what publish needs (one FROM, at most one
    ADAPTER, TEMPLATE and SYSTEM, known parameters of the right type)."""
    header, commands = _commands(text)
    found: dict[str, list[str]] = {}
    parameters: list[tuple[str, ParameterValue]] = []
    messages: list[tuple[str, str]] = []
    for name, value in commands:
        if name.startswith("parameter:"):
            key = name.removeprefix("parameter:")
            parameters.append((key, _typed(key, value)))
        elif name.startswith("message:"):
            messages.append((name.removeprefix("message:"), value))
        else:
            found.setdefault(name, []).append(value)
    for single in ("from", "adapter", "template", "system"):
        if len(found.get(single, [])) > 1:
            raise ModelfileError(f"more than one {single.upper()} line")
    _check_parameters(tuple(parameters))
    return Modelfile(
        from_=found["from"][0],
        adapter=_first(found, "adapter"),
        template=_first(found, "template"),
        system=_first(found, "system"),
        parameters=tuple(parameters),
        messages=tuple(messages),
        licenses=tuple(found.get("license", [])),
        header=tuple(header),
    )


def _first(found: dict[str, list[str]], name: str) -> str | None:
    values = found.get(name)
    return values[0] if values else None


def _typed(name: str, text: str) -> ParameterValue:
    """A PARAMETER value converted as Ollama's api.FormatParams does (its error texts)."""
    if name in DEPRECATED_PARAMETERS:
        raise ModelfileError(f"parameter '{name}' is deprecated and Ollama ignores it")
    if name in LIST_PARAMETERS:
        return text
    if name in INT_PARAMETERS:
        if not _INT.fullmatch(text):
            raise ModelfileError(f"invalid int value [{text}] for parameter '{name}'")
        return int(text)
    if name in FLOAT_PARAMETERS:
        if not _FLOAT.fullmatch(text):
            raise ModelfileError(f"invalid float value [{text}] for parameter '{name}'")
        return float(text)
    if name in BOOL_PARAMETERS:
        if text.lower() not in _BOOLS or text not in (text.lower(), text.upper(), text.title()):
            raise ModelfileError(f"invalid bool value [{text}] for parameter '{name}'")
        return _BOOLS[text.lower()]
    raise ModelfileError(f"unknown parameter '{name}'")


# The parser's states, as in Ollama's parser.go.
_NIL, _NAME, _VALUE, _PARAMETER, _MESSAGE, _COMMENT = range(6)


def _commands(text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Ollama's ParseFile: the leading comment lines and the `(name, value)` commands, with
    PARAMETER as `parameter:<name>` and MESSAGE as `message:<role>`."""
    header: list[str] = []
    commands: list[tuple[str, str]] = []
    state, buffer, comment = _NIL, [], []
    name = ""
    for ch in _runes(text):
        following, kept = _step(state, ch)
        if state == _COMMENT and following == _COMMENT:
            comment.append(ch)  # kept for the header only: Ollama ignores comments
        if following != state:
            if state == _NAME:
                word = "".join(buffer).lower()
                if word.upper() in UNSUPPORTED:
                    raise ModelfileError(f"{word.upper()} is not supported by storyloom publish")
                if word.upper() not in INSTRUCTIONS:
                    known = ", ".join(INSTRUCTIONS)
                    raise ModelfileError(f"command must be one of {known}, not {word!r}")
                name = word
                following = {"parameter": _PARAMETER, "message": _MESSAGE}.get(word, following)
            elif state == _PARAMETER:
                name = f"parameter:{''.join(buffer)}"
            elif state == _MESSAGE:
                role = "".join(buffer)
                if role not in MESSAGE_ROLES:
                    raise ModelfileError(f"MESSAGE role must be one of {MESSAGE_ROLES}")
                name = f"message:{role}"
            elif state == _VALUE:
                value, complete = _unquote("".join(buffer).strip(_TRIMMED))
                if not complete or ch in _SPACES:  # an open quote, or a space inside a value
                    buffer.append(ch)
                    continue
                commands.append((name, value))
            elif state == _COMMENT and not commands:
                header.append(_comment_text("".join(comment)))
            buffer, comment = [], []
            state = following
        if kept is not None and kept.isprintable():
            buffer.append(kept)
    if state == _VALUE:
        value, complete = _unquote("".join(buffer).strip(_TRIMMED))
        if not complete:
            raise ModelfileError(f"unexpected end of file in a quoted value: {''.join(buffer)}")
        commands.append((name, value))
    elif state == _COMMENT and not commands:
        header.append(_comment_text("".join(comment)))
    elif state not in (_NIL, _COMMENT):
        raise ModelfileError("unexpected end of file after an instruction name")
    if not any(command == "from" for command, _ in commands):
        raise ModelfileError("no FROM line")
    return header, commands


def _runes(text: str) -> Iterator[str]:
    # Ollama decodes UTF-8 with a BOM override: a leading byte order mark is not content.
    yield from text.removeprefix("\ufeff")


def _step(state: int, ch: str) -> tuple[int, str | None]:
    """parseRuneForState: the next state and the character to keep (None: keep nothing)."""
    if state == _NIL:
        if ch == "#":
            return _COMMENT, None
        if ch in _SPACES or ch in _NEWLINES:
            return _NIL, None
        return _NAME, ch
    if state == _NAME:
        if ch.isascii() and ch.isalpha():
            return _NAME, ch
        if ch in _SPACES:
            return _VALUE, None
        raise ModelfileError(f"command must be one of {', '.join(INSTRUCTIONS)}")
    if state == _VALUE:
        return (_NIL, ch) if ch in _NEWLINES or ch in _SPACES else (_VALUE, ch)
    if state in (_PARAMETER, _MESSAGE):
        allowed = ch.isascii() and (ch.isalpha() or (state == _PARAMETER and ch.isdigit()))
        if allowed or (state == _PARAMETER and ch == "_"):
            return state, ch
        if ch in _SPACES:
            return _VALUE, None
        raise ModelfileError("unexpected end of an instruction's name")
    return (_NIL, None) if ch in _NEWLINES else (_COMMENT, None)


def _unquote(text: str) -> tuple[str, bool]:
    """Ollama's unquote: the value inside `\"\"\"…\"\"\"` or `"…"`, and whether it is complete."""
    if text.startswith('"""'):
        if len(text) >= 6 and text.endswith('"""'):
            return text[3:-3], True
        return "", False
    if text.startswith('"'):
        if len(text) >= 2 and text.endswith('"'):
            return text[1:-1], True
        return "", False
    return text, True


def _comment_text(raw: str) -> str:
    return raw[1:] if raw.startswith(" ") else raw
