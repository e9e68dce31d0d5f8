"""The `general.*` (and `storyloom.*`) metadata every GGUF this pipeline writes carries."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import gguf

from storyloom import prompting
from storyloom_pipeline import __version__

if TYPE_CHECKING:
    from storyloom_pipeline.recipe import Recipe

# Keys of our own (llama.cpp and Ollama ignore keys they do not know).
PROMPT_FORMAT_KEY = "storyloom.prompt_format_version"
PIPELINE_VERSION_KEY = "storyloom.pipeline_version"

_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


@dataclass(frozen=True)
class ExportInfo:
    """Who the model is: what `general.*` says, and the tokenizer's llama.cpp pre-tokenizer."""

    name: str  # e.g. cra-v1-7b
    tokenizer_pre: str  # llama.cpp's pre-tokenizer name: qwen2, smollm, llama-bpe, …
    base_model: str = ""  # Hub id, folder or package reference of the base model
    license: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("a GGUF needs a model name")
        if not self.tokenizer_pre.strip():
            raise ValueError("a GGUF needs llama.cpp's pre-tokenizer name (e.g. qwen2, smollm)")

    @classmethod
    def from_recipe(cls, recipe: Recipe) -> ExportInfo:
        return cls(
            name=recipe.name,
            tokenizer_pre=recipe.tokenizer_pre,
            base_model=recipe.base_model,
            license=recipe.license,
            description=recipe.description,
        )

    def write_to(self, writer: gguf.GGUFWriter, kind: str) -> None:
        """general.type (`model` or `adapter`), name, licence, base model, prompt format."""
        writer.add_type(kind)
        writer.add_name(self.name)
        if self.description:
            writer.add_description(self.description)
        if self.license:
            writer.add_license(self.license)
        if self.base_model:
            writer.add_base_model_count(1)
            writer.add_base_model_name(0, self.base_model)
            if _HUB_ID.match(self.base_model):
                organization = self.base_model.split("/")[0]
                writer.add_base_model_organization(0, organization)
                writer.add_base_model_repo_url(0, f"https://huggingface.co/{self.base_model}")
        writer.add_string(PROMPT_FORMAT_KEY, prompting.PROMPT_FORMAT_VERSION)
        writer.add_string(PIPELINE_VERSION_KEY, __version__)
