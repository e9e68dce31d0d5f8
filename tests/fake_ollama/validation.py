"""Request parsing with Go's error messages (gin's ShouldBindJSON, api.Duration, Options.FromMap).

A client that shows server errors to the user must cope with exactly these strings, so they are
copied from 24-extra-errors rather than invented.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

DEFAULT_KEEP_ALIVE = 300.0  # OLLAMA_KEEP_ALIVE=5m (README setup)

_GO_TYPES = {
    "string": str,
    "bool": bool,
    "[]int": list,
    "[]string": list,
    "[]api.Message": list,
    "map[string]interface {}": dict,
    "map[string]string": dict,
}
GENERATE_FIELDS = {
    "model": "string",
    "prompt": "string",
    "suffix": "string",
    "system": "string",
    "template": "string",
    "context": "[]int",
    "raw": "bool",
    "stream": "bool",
    "options": "map[string]interface {}",
}
CHAT_FIELDS = {
    "model": "string",
    "messages": "[]api.Message",
    "stream": "bool",
    "options": "map[string]interface {}",
}
INT_OPTIONS = frozenset(
    {"num_ctx", "num_batch", "num_gpu", "main_gpu", "num_thread", "num_keep", "seed"}
    | {"num_predict", "top_k", "repeat_last_n", "draft_num_predict"}
)
FLOAT_OPTIONS = frozenset(
    {"temperature", "top_p", "min_p", "typical_p", "repeat_penalty", "presence_penalty"}
    | {"frequency_penalty"}
)
BOOL_OPTIONS = frozenset({"use_mmap"})
LIST_OPTIONS = frozenset({"stop"})


class HttpError(Exception):
    """An error Ollama answers before any response bytes: a status and ``{"error": message}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def go_quote(text: str) -> str:
    """Go's ``%q`` for ordinary strings (``model "x" not found`` in 20)."""
    return json.dumps(text, ensure_ascii=False)


def json_kind(value: Any) -> str:
    """The JSON type name encoding/json uses in its errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "null"


def bind_json(body: bytes, struct: str, fields: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Parse a request body as gin does: an empty body, a cut-off body and a wrong type each
    get Go's message as a 400 (24 exchanges 1 and 2)."""
    text = body.decode("utf-8", errors="replace")
    if not text.strip():
        raise HttpError(400, "missing request body")
    try:
        # Go's json.Decoder reads the first value and ignores whatever follows it.
        value, _ = json.JSONDecoder().raw_decode(text.lstrip())
    except json.JSONDecodeError as error:
        stripped = text.lstrip()
        if error.pos >= len(stripped.rstrip()):
            raise HttpError(400, "unexpected EOF") from None
        char = stripped[error.pos]
        raise HttpError(400, f"invalid character {char!r} looking for beginning of value") from None
    if not isinstance(value, dict):
        kind = json_kind(value)
        raise HttpError(400, f"json: cannot unmarshal {kind} into Go value of type api.{struct}")
    for name, go_type in (fields or {}).items():
        item = value.get(name)
        if item is not None and not isinstance(item, _GO_TYPES[go_type]):
            raise HttpError(
                400,
                f"json: cannot unmarshal {json_kind(item)} into Go struct field "
                f"{struct}.{name} of type {go_type}",
            )
    return value


def parse_keep_alive(value: Any) -> float | None:
    """``keep_alive`` in seconds (None: the server default; ``math.inf``: forever).

    Numbers are seconds and strings are Go durations, so ``"-1"`` is a 400 (24 exchange 6).
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise HttpError(400, f"Unsupported type: '{json_kind(value)}'")
    if isinstance(value, str):
        try:
            seconds = parse_go_duration(value)
        except ValueError as error:
            raise HttpError(400, str(error)) from None
    else:
        seconds = float(int(value))  # Go truncates float seconds
    return math.inf if seconds < 0 else seconds


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0}
_DURATION_UNITS |= {"m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float:
    """Go's ``time.ParseDuration`` in seconds, with its error messages."""
    quoted = go_quote(text)
    rest, sign = text, 1.0
    if rest[:1] in ("-", "+"):
        sign, rest = (-1.0 if rest[0] == "-" else 1.0), rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        raise ValueError(f"time: invalid duration {quoted}")
    total = 0.0
    while rest:
        number = re.match(r"[0-9]*(?:\.[0-9]*)?", rest).group()  # type: ignore[union-attr]
        if not number.strip("."):
            raise ValueError(f"time: invalid duration {quoted}")
        rest = rest[len(number) :]
        unit = re.match(r"[^0-9.]*", rest).group()  # type: ignore[union-attr]
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in _DURATION_UNITS:
            raise ValueError(f"time: unknown unit {go_quote(unit)} in duration {quoted}")
        total += float(number) * _DURATION_UNITS[unit]
        rest = rest[len(unit) :]
    return sign * total


def parse_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Known options with Go's types; unknown keys are ignored (only a server WARN, 24 ex. 5).

    A wrong type is a 500, because the error surfaces while scheduling the runner (24 ex. 4).
    """
    parsed: dict[str, Any] = {}
    for key, value in (options or {}).items():
        if value is None:
            continue
        if key in INT_OPTIONS:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise HttpError(500, f"option {go_quote(key)} must be of type integer")
            parsed[key] = int(value)
        elif key in FLOAT_OPTIONS:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise HttpError(500, f"option {go_quote(key)} must be of type float32")
            parsed[key] = float(value)
        elif key in BOOL_OPTIONS:
            if not isinstance(value, bool):
                raise HttpError(500, f"option {go_quote(key)} must be of type boolean")
            parsed[key] = value
        elif key in LIST_OPTIONS:
            if isinstance(value, str):
                value = [value]  # a Modelfile's single PARAMETER stop
            if not isinstance(value, list):
                raise HttpError(500, f"option {go_quote(key)} must be of type array")
            if not all(isinstance(item, str) for item in value):
                raise HttpError(500, f"option {go_quote(key)} must be of an array of strings")
            parsed[key] = list(value)
    return parsed


def is_truthy_think(value: Any) -> bool:
    """``think`` asks for thinking when it is true or a level such as ``"high"`` (22)."""
    return value is True or (isinstance(value, str) and value not in ("", "false"))


def valid_relative_path(path: str) -> bool:
    """Go's ``fs.ValidPath``: no leading slash, no empty, ``.`` or ``..`` segments (17 ex. 8)."""
    return path == "." or (
        bool(path) and all(part not in ("", ".", "..") for part in path.split("/"))
    )
