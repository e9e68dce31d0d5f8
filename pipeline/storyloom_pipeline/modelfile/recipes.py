"""The Modelfiles of the recipes: what `storyloom-pipeline modelfile` writes to modelfiles/.

Each recipe gets `<name>.Modelfile`, FROM its merged F16 GGUF (publish quantizes it, by default
to the recipe's `publish.quantize`), and, when the recipe names an Ollama base
(`publish.ollama_base`), `<name>-adapter.Modelfile`: FROM that base plus the LoRA adapter GGUF.
Paths are relative to the Modelfile's folder, as Ollama resolves them.

TEMPLATE, SYSTEM and the stop strings come from `storyloom.prompting`, the sampling defaults and
`num_ctx` from the recipe; the files are committed, and `check_modelfiles` (a test, and
`modelfile --check`) fails when any of them is stale.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from storyloom import prompting
from storyloom_pipeline.export.types import adapter_file_name, gguf_file_name
from storyloom_pipeline.modelfile.syntax import (
    Modelfile,
    ModelfileError,
    ParameterValue,
    looks_like_path,
    render,
)
from storyloom_pipeline.modelfile.template import CHATML_TEMPLATE
from storyloom_pipeline.recipe import Recipe, load_recipe
from storyloom_pipeline.train.run_folder import RunFolder

RECIPES_DIR = Path("pipeline/recipes")
MODELFILES_DIR = Path("modelfiles")
SUFFIX = ".Modelfile"


@dataclass(frozen=True)
class ExportPaths:
    """Where a recipe's GGUFs are exported (relative to the repository root)."""

    merged: Path
    adapter: Path


def export_paths(recipe: Recipe) -> ExportPaths:
    """The files `storyloom-pipeline export --recipe` writes into the recipe's run folder."""
    folder = RunFolder.for_recipe(recipe.name).gguf
    return ExportPaths(
        merged=folder / gguf_file_name(recipe.name, "f16"),
        adapter=folder / adapter_file_name(recipe.name),
    )


def modelfile_for(
    recipe: Recipe,
    *,
    model: str | os.PathLike[str],
    adapter: str | os.PathLike[str] | None = None,
    relative_to: Path | None = None,
) -> Modelfile:
    """The Modelfile of `recipe` for a GGUF file, or for an Ollama base model name plus an
    adapter GGUF. File paths are written relative to `relative_to` (the Modelfile's folder)
    when it is given, else as they are; Ollama resolves them against the Modelfile's folder."""
    model_text = _path_text(model, relative_to)
    adapter_text = None if adapter is None else _path_text(adapter, relative_to)
    publish = recipe.publish
    parameters: list[tuple[str, ParameterValue]] = [("num_ctx", publish.num_ctx)]
    parameters += [("stop", stop) for stop in prompting.STOP_STRINGS]
    parameters += [
        ("temperature", publish.temperature),
        ("top_p", publish.top_p),
        ("repeat_penalty", publish.repeat_penalty),
    ]
    return Modelfile(
        from_=model_text,
        adapter=adapter_text,
        template=CHATML_TEMPLATE,
        system=prompting.SYSTEM_PROMPT,
        parameters=tuple(parameters),
        licenses=(_license(recipe),),
        header=_header(recipe, adapter=adapter is not None),
    )


def render_modelfile(
    recipe: Recipe,
    *,
    model: str | os.PathLike[str],
    adapter: str | os.PathLike[str] | None = None,
    relative_to: Path | None = None,
) -> str:
    """The text of `modelfile_for(recipe, ...)`, ready to write and to publish."""
    return render(modelfile_for(recipe, model=model, adapter=adapter, relative_to=relative_to))


def recipe_modelfiles(recipe: Recipe, *, root: Path, out_dir: Path) -> dict[str, str]:
    """File name -> text of every Modelfile of `recipe`, written to `out_dir` under `root`."""
    paths = export_paths(recipe)
    texts = {
        f"{recipe.name}{SUFFIX}": render_modelfile(
            recipe, model=root / paths.merged, relative_to=out_dir
        )
    }
    if recipe.publish.ollama_base:
        texts[f"{recipe.name}-adapter{SUFFIX}"] = render_modelfile(
            recipe,
            model=recipe.publish.ollama_base,
            adapter=root / paths.adapter,
            relative_to=out_dir,
        )
    return texts


@dataclass(frozen=True)
class ModelfilesReport:
    written: tuple[Path, ...] = ()
    unchanged: tuple[Path, ...] = ()
    problems: tuple[str, ...] = ()  # with check=True: what is stale, missing or left over


def write_modelfiles(
    recipe_paths: Sequence[Path] | None = None,
    *,
    root: Path = Path(),
    out_dir: Path | None = None,
    check: bool = False,
) -> ModelfilesReport:
    """Render the Modelfiles of `recipe_paths` (default: every recipe under `root`) into
    `out_dir` (default: `root`/modelfiles). With `check`, write nothing and report the files
    that differ from what would be written; with all recipes, a Modelfile that no recipe
    makes is reported too."""
    every_recipe = recipe_paths is None
    paths = sorted((root / RECIPES_DIR).glob("*.yaml")) if recipe_paths is None else recipe_paths
    if not paths:
        raise ModelfileError(f"no recipes (*.yaml) in {root / RECIPES_DIR}")
    out_dir = root / MODELFILES_DIR if out_dir is None else out_dir
    expected: dict[str, str] = {}
    for recipe in (load_recipe(path) for path in paths):
        expected |= recipe_modelfiles(recipe, root=root, out_dir=out_dir)
    written, unchanged, problems = [], [], []
    for name, text in sorted(expected.items()):
        target = out_dir / name
        current = _read(target)
        if current == text:
            unchanged.append(target)
        elif check:
            problems.append(f"{target}: {'missing' if current is None else 'stale'}")
        else:
            out_dir.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8", newline="")
            written.append(target)
    if check and every_recipe:
        for extra in sorted(out_dir.glob(f"*{SUFFIX}")):
            if extra.name not in expected:
                problems.append(f"{extra}: made by no recipe")
    return ModelfilesReport(tuple(written), tuple(unchanged), tuple(problems))


def _read(path: Path) -> str | None:
    try:
        with path.open(encoding="utf-8", newline="") as file:  # keep \r: it would be stale
            return file.read()
    except FileNotFoundError:
        return None


def _path_text(value: str | os.PathLike[str], relative_to: Path | None) -> str:
    if isinstance(value, str) and not looks_like_path(value):
        return value  # an Ollama model name such as qwen2.5:7b-instruct
    path = Path(value)
    if relative_to is not None:
        path = Path(os.path.relpath(path.absolute(), relative_to.absolute()))
    return path.as_posix()


def _header(recipe: Recipe, *, adapter: bool) -> tuple[str, ...]:
    # The adapter variant is a tag of the same model; a quantized base cannot be requantized.
    name = recipe.publish.ollama_name or "<user>/<model>"
    publish = f"storyloom-pipeline publish <this file> --name {name}"
    if adapter:
        publish += ":lora"
    elif recipe.publish.quantize:
        publish += f" --quantize {recipe.publish.quantize}"
    lines = [
        f"{recipe.name}: {recipe.description}" if recipe.description else recipe.name,
        f"Prompt format: {prompting.PROMPT_FORMAT_VERSION}",
        f"Recipe: {recipe.source.name if recipe.source else recipe.name}",
        f"Base model: {recipe.base_model}",
        f"Publish: {publish} --push",
        "Generated by `storyloom-pipeline modelfile` from storyloom.prompting and the recipe;",
        "do not edit (a test regenerates the committed Modelfiles and fails on any difference).",
    ]
    return tuple(lines)


def _license(recipe: Recipe) -> str:
    return (
        f"{recipe.license}\n\n"
        f"{recipe.name} is fine-tuned from {recipe.base_model} and released under the licence "
        f"above ({recipe.license}).\n"
        "Its training stories are Project Gutenberg books, in the public domain in the USA."
    )
