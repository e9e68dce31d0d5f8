"""Model profiles: how a model is prompted and how its reply is read, chosen by name pattern.

Profiles are data. The package ships `profiles.json`; a `profiles.json` in the writer's config
folder adds to it: its profiles replace shipped ones of the same name, and its model rules are
tried before the shipped ones. A broken user file is reported and the shipped table used, so a
typo never stops the app.
"""

from __future__ import annotations

import enum
import fnmatch
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from storyloom.core import paths
from storyloom.core.models import model_key
from storyloom.core.options import ModelOptions, OptionError
from storyloom.prompting import CRA_TAGS, THINK_TAGS, TagScheme

PROFILES_FILE = "profiles.json"
TAG_SCHEMES: Mapping[str, TagScheme] = {"cra": CRA_TAGS, "think": THINK_TAGS}


class RequestStyle(enum.Enum):
    RAW_CRA = "raw-cra"  # /api/generate, raw: our ChatML in the exact training format
    CHAT = "chat"  # /api/chat messages: the model's own template applies


class ProfileError(ValueError):
    """A profiles file is malformed; the message names the file and the place."""


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    style: RequestStyle
    tags: str = "cra"  # a key of TAG_SCHEMES
    guided: bool = False  # the writer may give a one-line guidance of what happens next
    options: ModelOptions = field(default_factory=ModelOptions)  # defaults for this model
    description: str = ""

    @property
    def scheme(self) -> TagScheme:
        return TAG_SCHEMES[self.tags]

    @property
    def expects_tags(self) -> bool:
        return self.scheme.expects_tags


# The format the backend uses when a request names no profile: the one cra-v1 was trained on.
CRA_PROFILE = Profile("cra", RequestStyle.RAW_CRA)


@dataclass(frozen=True, slots=True)
class ProfileTable:
    profiles: Mapping[str, Profile]
    rules: tuple[tuple[str, str], ...]  # (glob pattern, profile name), first match wins
    problem: str | None = None  # why the writer's own file was not used

    def for_model(self, model: str) -> Profile:
        name = model_key(model)
        for pattern, profile in self.rules:
            if fnmatch.fnmatchcase(name, pattern.lower()):
                return self.profiles[profile]
        return self.profiles.get("generic", CRA_PROFILE)


def user_profiles_path() -> Path:
    return paths.config_dir() / PROFILES_FILE


def load_profiles(user_file: Path | None = None) -> ProfileTable:
    """The shipped table, extended by `user_file` (default: the config folder's) if present."""
    shipped_text = resources.files("storyloom.core").joinpath(PROFILES_FILE).read_text("utf-8")
    shipped = _parse(json.loads(shipped_text), "the shipped profiles.json", {})
    path = user_file or user_profiles_path()
    if not path.is_file():
        return shipped
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        user = _parse(data, str(path), shipped.profiles)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ProfileError) as exc:
        return ProfileTable(shipped.profiles, shipped.rules, f"{path} was not used: {exc}")
    profiles = {**shipped.profiles, **user.profiles}
    return ProfileTable(profiles, user.rules + shipped.rules)


def _parse(data: Any, source: str, known: Mapping[str, Profile]) -> ProfileTable:
    if not isinstance(data, dict):
        raise ProfileError(f"{source}: expected a JSON object")
    raw_profiles = data.get("profiles", {})
    raw_rules = data.get("models", [])
    if not isinstance(raw_profiles, dict) or not isinstance(raw_rules, list):
        raise ProfileError(f"{source}: 'profiles' must be an object and 'models' a list")
    profiles = {name: _profile(name, spec, source) for name, spec in raw_profiles.items()}
    rules = []
    for index, rule in enumerate(raw_rules):
        where = f"{source}: models[{index}]"
        if not isinstance(rule, dict) or not isinstance(rule.get("pattern"), str):
            raise ProfileError(f'{where}: expected {{"pattern": …, "profile": …}}')
        if rule.get("profile") not in {**known, **profiles}:
            raise ProfileError(f"{where}: no profile called {rule.get('profile')!r}")
        rules.append((rule["pattern"], rule["profile"]))
    return ProfileTable(profiles, tuple(rules))


def _profile(name: str, spec: Any, source: str) -> Profile:
    where = f"{source}: profile {name!r}"
    if not isinstance(spec, dict):
        raise ProfileError(f"{where}: expected an object")
    try:
        style = RequestStyle(spec.get("request"))
    except ValueError:
        styles = " or ".join(repr(s.value) for s in RequestStyle)
        raise ProfileError(f"{where}: 'request' must be {styles}") from None
    tags = spec.get("tags", "cra")
    if tags not in TAG_SCHEMES:
        raise ProfileError(f"{where}: 'tags' must be one of {', '.join(map(repr, TAG_SCHEMES))}")
    if not isinstance(spec.get("options", {}), dict):
        raise ProfileError(f"{where}: 'options' must be an object")
    try:
        options = ModelOptions.from_mapping(spec.get("options", {}))
    except OptionError as exc:
        raise ProfileError(f"{where}: {exc}") from None
    return Profile(
        name,
        style,
        tags,
        guided=bool(spec.get("guided", False)),
        options=options,
        description=str(spec.get("description", "")),
    )
