"""The writer's settings, Qt-free: what is stored, its defaults, and what a request is sent with.

Values live in a `SettingsStore` (the GUI adapts QSettings; tests use `MemoryStore`). Stores
hand back what they hold, INI strings included, so every read goes through the same parsing
and validation as the settings dialog; a value that no longer parses falls back to its default.

Per-model options are stored only where the writer chose something other than the model's
profile default, so "reset to defaults" is a removal and improved profile defaults reach
everyone who never changed them.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar
from urllib.parse import quote, urlsplit

from storyloom.core.backend import GenerationSettings
from storyloom.core.length import Length
from storyloom.core.memory import default_num_ctx, total_memory_bytes
from storyloom.core.models import DEFAULT_MODEL, ModelInfo, model_key
from storyloom.core.options import ModelOptions, OptionError, parse_option
from storyloom.core.profiles import Profile

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_FONT_SIZE = 12.5  # the editor's own default (points)


class SettingsStore(Protocol):
    def value(self, key: str) -> object | None: ...
    def set_value(self, key: str, value: object) -> None: ...
    def remove(self, key: str) -> None:
        """Remove `key` and every key below it (`key/...`), as QSettings does."""


class MemoryStore:
    """A dict as a settings store: for tests, and for scripts that must not persist anything."""

    def __init__(self) -> None:
        self.data: dict[str, object] = {}

    def value(self, key: str) -> object | None:
        return self.data.get(key)

    def set_value(self, key: str, value: object) -> None:
        self.data[key] = value

    def remove(self, key: str) -> None:
        for stored in [k for k in self.data if k == key or k.startswith(key + "/")]:
            del self.data[stored]


class Theme(enum.StrEnum):
    SYSTEM = "system"
    LIGHT = "light"
    DARK = "dark"


@dataclass(frozen=True, slots=True)
class EditorSettings:
    font_family: str = ""  # "": the editor's own serif choice
    font_size: float = DEFAULT_FONT_SIZE
    theme: Theme = Theme.SYSTEM


def check_host(host: str) -> str:
    """`host` normalised ("" stays "": use OLLAMA_HOST, else Ollama's default); OptionError."""
    host = host.strip().rstrip("/")
    if not host:
        return ""
    parts = urlsplit(host if "://" in host else f"http://{host}")
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise OptionError(f"{host!r} has an invalid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OptionError(f"{host!r} is not a server address such as http://127.0.0.1:11434")
    return host


class AppSettings:
    def __init__(
        self,
        store: SettingsStore,
        total_memory: Callable[[], int | None] = total_memory_bytes,
    ) -> None:
        self.store = store
        self._total_memory = total_memory

    # -- connection and model ---------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._text("connection/host", "", check_host)

    def set_host(self, host: str) -> None:
        self._set_or_remove("connection/host", check_host(host), "")

    @property
    def model(self) -> str:
        return self._text("model/current", DEFAULT_MODEL, str.strip) or DEFAULT_MODEL

    def set_model(self, model: str) -> None:
        self.store.set_value("model/current", model.strip())

    # -- editor -------------------------------------------------------------------------------

    @property
    def editor(self) -> EditorSettings:
        default = EditorSettings()
        size = self._number("editor/font_size", default.font_size, 6.0, 72.0)
        return EditorSettings(
            font_family=self._text("editor/font_family", "", str.strip),
            font_size=size,
            theme=self._text("editor/theme", default.theme, Theme),
        )

    def set_editor(self, editor: EditorSettings) -> None:
        default = EditorSettings()
        self._set_or_remove("editor/font_family", editor.font_family, default.font_family)
        self._set_or_remove("editor/font_size", editor.font_size, default.font_size)
        self._set_or_remove("editor/theme", editor.theme.value, default.theme.value)

    # -- writing ------------------------------------------------------------------------------

    @property
    def length(self) -> Length:
        """How long a continuation may be (the writer's last choice)."""
        return self._text("writing/length", Length.UNLIMITED, Length)

    def set_length(self, length: Length) -> None:
        self._set_or_remove("writing/length", length.value, Length.UNLIMITED.value)

    # -- per model ----------------------------------------------------------------------------

    def options(self, model: str, profile: Profile) -> ModelOptions:
        """The options for `model`: the writer's choices over its profile's defaults."""
        chosen = {}
        for name in ModelOptions.names():
            raw = self.store.value(self._option_key(model, name))
            if raw is None:
                continue
            try:
                chosen[name] = parse_option(name, raw)
            except OptionError as exc:
                log.warning("ignoring the stored %s of %s: %s", name, model, exc)
        try:
            return ModelOptions.from_mapping(chosen, profile.options)
        except OptionError as exc:  # stored values that disagree with each other
            log.warning("ignoring the stored options of %s: %s", model, exc)
            return profile.options

    def set_options(self, model: str, options: ModelOptions, profile: Profile) -> None:
        options.check()
        defaults = profile.options.as_dict()
        for name, value in options.as_dict().items():
            key = self._option_key(model, name)
            if value == defaults[name]:
                self.store.remove(key)
            else:
                # "" stands for "not set" where the profile has a default the writer cleared.
                self.store.set_value(key, "" if value is None else value)

    def auto_num_ctx(self, info: ModelInfo | None) -> int:
        """num_ctx when the writer has not chosen one: never Ollama's silent default."""
        return default_num_ctx(
            info.context_length if info else None,
            self._total_memory(),
            info.kv_bytes_per_token if info else None,
        )

    def generation(
        self, model: str, profile: Profile, info: ModelInfo | None
    ) -> GenerationSettings:
        options = self.options(model, profile)
        return GenerationSettings(
            model=model,
            num_ctx=options.num_ctx or self.auto_num_ctx(info),
            num_predict=options.num_predict,
            temperature=options.temperature,
            top_p=options.top_p,
            top_k=options.top_k,
            repeat_penalty=options.repeat_penalty,
            seed=options.seed,
            keep_alive=options.keep_alive_value(),
        )

    # -- reading and writing ------------------------------------------------------------------

    def _option_key(self, model: str, name: str) -> str:
        return f"models/{_model_group(model)}/{name}"

    def _text(self, key: str, default: T, parse: Callable[[str], T]) -> T:
        raw = self.store.value(key)
        if raw is None:
            return default
        try:
            return parse(str(raw))
        except ValueError as exc:
            log.warning("ignoring the stored %s: %s", key, exc)
            return default

    def _number(self, key: str, default: float, low: float, high: float) -> float:
        value = self._text(key, default, float)
        return value if low <= value <= high else default

    def _set_or_remove(self, key: str, value: object, default: object) -> None:
        if value == default:
            self.store.remove(key)
        else:
            self.store.set_value(key, value)


def _model_group(model: str) -> str:
    """A model name as one settings key: QSettings would read its '/' as a subgroup."""
    return quote(model_key(model), safe="")
