"""Ollama model names, checked here before anything is uploaded.

A name is `[host/][namespace/]model[:tag]` (types/model/name.go, reference 3): the namespace
takes letters, digits, `_` and `-`; model and tag also `.`; each part starts with a letter, a
digit or `_` and is at most 80 characters. Two rules are stricter here, because breaking them
fails only at the end of a long push: names are lower case (ollama.com refuses upper case,
ollama/ollama#3501), and a pushed name has a namespace, the account's own (without one it would
go to `library/`, which nobody may push to, ollama/ollama#8584).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REGISTRY = "registry.ollama.ai"
_NAMESPACE = re.compile(r"[a-z0-9_][a-z0-9_-]{0,79}")
_MODEL_OR_TAG = re.compile(r"[a-z0-9_][a-z0-9_.-]{0,79}")
_HOST = re.compile(r"[a-z0-9_][a-z0-9_.-]*(?::[0-9]{1,5})?")
RULES = (
    "an Ollama model name is [namespace/]model[:tag] in lower case: the namespace (your "
    "ollama.com user name) takes letters, digits, '_' and '-', model and tag also '.', and "
    "each part starts with a letter, a digit or '_' (at most 80 characters)"
)


class ModelNameError(ValueError):
    """A name Ollama or ollama.com would refuse; the message says which rule and why."""


@dataclass(frozen=True)
class ModelName:
    host: str
    namespace: str
    model: str
    tag: str

    def __str__(self) -> str:
        prefix = "" if self.host == REGISTRY else f"{self.host}/"
        if prefix or self.namespace != "library":
            prefix += f"{self.namespace}/"
        return f"{prefix}{self.model}:{self.tag}"

    @property
    def page(self) -> str | None:
        """The model's page on ollama.com, for a name in the public registry."""
        if self.host != REGISTRY:
            return None
        return f"https://ollama.com/{self.namespace}/{self.model}"


def parse_model_name(text: str, *, for_push: bool = False) -> ModelName:
    if not text or text != text.strip():
        raise ModelNameError(f"{text!r} is not a model name: {RULES}")
    if text != text.lower():
        raise ModelNameError(
            f"{text!r} has upper case letters, which ollama.com refuses; use {text.lower()!r}"
        )
    parts = text.split("/")
    if len(parts) > 3:
        raise ModelNameError(f"{text!r} has too many '/': {RULES}")
    host = parts[0] if len(parts) == 3 else REGISTRY
    namespace = parts[-2] if len(parts) >= 2 else "library"
    model, colon, tag = parts[-1].partition(":")
    if colon and not tag:
        raise ModelNameError(f"{text!r} ends with ':' but has no tag: {RULES}")
    tag = tag or "latest"
    if not (_HOST.fullmatch(host) and _NAMESPACE.fullmatch(namespace)):
        raise ModelNameError(f"{text!r}: {RULES}")
    if not (_MODEL_OR_TAG.fullmatch(model) and _MODEL_OR_TAG.fullmatch(tag)):
        raise ModelNameError(f"{text!r}: {RULES}")
    if for_push and namespace == "library":
        raise ModelNameError(
            f"{text!r} has no namespace: push it as <your ollama.com user>/{parts[-1]} "
            "(a name without one belongs to Ollama's own library, where you cannot push)"
        )
    return ModelName(host, namespace, model, tag)
