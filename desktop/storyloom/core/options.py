"""The generation options a writer can set per model: fields, limits and validation.

Shared by the settings (stored values), the model profiles (their defaults) and the settings
dialog (what the writer types), so a value is checked by the same rule wherever it comes from.
`None` means "not set": num_ctx is then chosen from the model and the machine (core.memory),
the sampling options are left to the model's own Modelfile defaults.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

DEFAULT_NUM_PREDICT = 2048
# A Go duration ("30m", "1h30m", "-1m") or a whole number of seconds ("-1" keeps it loaded).
_KEEP_ALIVE = re.compile(r"-?\d+|-?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+")

# (lowest, highest) accepted; Ollama itself accepts wider ranges, but nothing outside these
# makes sense for prose and most of it is a typo.
LIMITS: Mapping[str, tuple[float, float]] = {
    "num_ctx": (512, 1_048_576),
    "num_predict": (16, 131_072),
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "top_k": (1, 1000),
    "repeat_penalty": (0.5, 2.0),
    "seed": (0, 2**31 - 1),
}
INTEGER_OPTIONS = frozenset({"num_ctx", "num_predict", "top_k", "seed"})


class OptionError(ValueError):
    """A value the writer (or a file) gave is out of range or malformed; says which and why."""


@dataclass(frozen=True, slots=True)
class ModelOptions:
    num_ctx: int | None = None  # None: the model's trained context, capped by memory
    num_predict: int = DEFAULT_NUM_PREDICT
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repeat_penalty: float | None = None
    seed: int | None = None  # None: a new random seed per continuation
    keep_alive: str | None = None  # None: the server's default (5 minutes)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any], base: ModelOptions | None = None
    ) -> ModelOptions:
        """`base` (default: the built-in defaults) with `values` applied; raises OptionError."""
        unknown = set(values) - set(cls.names())
        if unknown:
            raise OptionError(f"unknown option(s): {', '.join(sorted(unknown))}")
        parsed = {name: parse_option(name, value) for name, value in values.items()}
        options = replace(base or cls(), **parsed)
        options.check()
        return options

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check(self) -> None:
        """Rules between fields (each field is checked on its own by parse_option)."""
        if self.num_ctx is not None and self.num_predict >= self.num_ctx:
            raise OptionError(
                f"num_predict ({self.num_predict}) must be smaller than num_ctx "
                f"({self.num_ctx}): the story needs room in the context too"
            )

    def keep_alive_value(self) -> str | int | None:
        """keep_alive as Ollama wants it: a number of seconds, or a Go duration string."""
        if self.keep_alive is None:
            return None
        return int(self.keep_alive) if self.keep_alive.lstrip("-").isdigit() else self.keep_alive


def parse_option(name: str, value: Any) -> Any:
    """`value` (from a file, an INI string or a widget) as the type of option `name`."""
    if value is None or value == "":
        if name == "num_predict":
            raise OptionError("num_predict must be set")
        return None
    if name == "keep_alive":
        text = str(value).strip()
        if not _KEEP_ALIVE.fullmatch(text):
            raise OptionError(
                f"keep_alive {text!r} is not a duration: use e.g. 30m, 1h, or -1 for always"
            )
        return text
    if isinstance(value, bool):
        raise OptionError(f"{name} must be a number, not {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise OptionError(f"{name} must be a number, not {value!r}") from None
    low, high = LIMITS[name]
    if not low <= number <= high:
        raise OptionError(
            f"{name} must be between {_show(low)} and {_show(high)}, not {_show(number)}"
        )
    if name in INTEGER_OPTIONS:
        if number != int(number):
            raise OptionError(f"{name} must be a whole number, not {_show(number)}")
        return int(number)
    return number


def _show(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)
