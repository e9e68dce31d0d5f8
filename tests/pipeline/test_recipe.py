from __future__ import annotations

from pathlib import Path

import pytest

from storyloom_pipeline.recipe import Quantization, RecipeError, load_recipe, save_recipe

RECIPES = Path(__file__).resolve().parents[2] / "pipeline" / "recipes"


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_committed_recipe_loads(path: Path) -> None:
    recipe = load_recipe(path)
    assert recipe.source == path
    assert recipe.publish.ollama_name


def test_the_gpu_recipes_are_4bit_qlora_on_every_projection() -> None:
    for name, base in (("cra-v1-7b-qlora", "7B"), ("cra-v1-32b-qlora", "32B")):
        recipe = load_recipe(RECIPES / f"{name}.yaml")
        assert recipe.base_model == f"Qwen/Qwen2.5-{base}-Instruct"
        assert recipe.quantization == Quantization(bits=4, quant_type="nf4")
        assert recipe.dtype == "bfloat16"
        assert recipe.training.gradient_checkpointing
        assert set(recipe.lora.target_modules) == {
            f"{p}_proj" for p in ("q", "k", "v", "o", "gate", "up", "down")
        }


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text("name: x\nbase_model: a/b\narchitecture: llama\ntokenizer_pre: smollm\n" + text)
    return path


def test_a_typo_is_an_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"unknown key training\.learnig_rate"):
        load_recipe(_write(tmp_path, "training:\n  learnig_rate: 0.1\n"))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("training:\n  max_steps: four\n", "training.max_steps must be int"),
        ("training:\n  gradient_checkpointing: 1\n", "must be bool"),
        ("lora:\n  target_modules: q_proj\n", "lora.target_modules must be a list"),
        ("lora: 3\n", "lora must be a mapping"),
        ("dtype: int8\n", "dtype must be one of"),
        ("data:\n  max_seq_length: null\n", "data.max_seq_length may not be empty"),
        ("training:\n  warmup_ratio: 1\n", "training.warmup_ratio must be in"),
        ("data:\n  eval_split: train\n", "data.eval_split is the training split"),
    ],
)
def test_wrong_values_say_where_and_what(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(RecipeError, match=says.replace(".", r"\.")):
        load_recipe(_write(tmp_path, text))


def test_missing_required_keys_and_unreadable_files_are_clear(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("name: x\n")
    with pytest.raises(RecipeError, match="base_model"):
        load_recipe(path)
    with pytest.raises(RecipeError, match="cannot read recipe"):
        load_recipe(tmp_path / "missing.yaml")


def test_numbers_widen_and_the_resolved_copy_is_plain_data(tmp_path: Path) -> None:
    recipe = load_recipe(_write(tmp_path, "training:\n  learning_rate: 1\n"))
    assert recipe.training.learning_rate == 1.0
    data = recipe.to_dict()
    assert data["training"]["learning_rate"] == 1.0
    assert isinstance(data["lora"]["target_modules"], list)
    assert "source" not in data


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.stem)
def test_a_saved_recipe_reads_back_equal(path: Path, tmp_path: Path) -> None:
    recipe = load_recipe(path)
    save_recipe(recipe, tmp_path / "copy.yaml")
    assert load_recipe(tmp_path / "copy.yaml") == recipe
