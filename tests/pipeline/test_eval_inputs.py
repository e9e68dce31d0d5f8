"""What `eval` is pointed at: model references and the held-out draw."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reason_helpers import write_chunks

from storyloom_pipeline.evaluation.heldout import HeldOutError, select_held_out
from storyloom_pipeline.evaluation.models import (
    LLAMA_CPP,
    OLLAMA,
    TRANSFORMERS,
    ModelSpec,
    ModelSpecError,
    parse_model,
)


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")
    (base / "model.safetensors").write_bytes(b"weights")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(base)}))
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    lora = tmp_path / "lora.gguf"
    lora.write_bytes(b"GGUF")
    return {"base": base, "adapter": adapter, "gguf": gguf, "lora": lora}


def test_each_kind_of_reference_finds_its_engine(folders: dict[str, Path]) -> None:
    base, adapter = str(folders["base"]), str(folders["adapter"])
    assert parse_model("ollama:molbal/cra-v1-7b") == ModelSpec(OLLAMA, "molbal/cra-v1-7b")
    assert parse_model("hf:Qwen/Qwen2.5-7B-Instruct") == ModelSpec(
        TRANSFORMERS, "Qwen/Qwen2.5-7B-Instruct"
    )
    assert parse_model(base) == ModelSpec(TRANSFORMERS, base)
    # a peft folder alone, or a base and its adapter: the same model
    assert (
        parse_model(adapter) == parse_model(base, adapter) == ModelSpec(TRANSFORMERS, base, adapter)
    )
    gguf, lora = str(folders["gguf"]), str(folders["lora"])
    assert parse_model(gguf, lora) == ModelSpec(LLAMA_CPP, gguf, lora)
    assert parse_model("hf:Qwen/Qwen2.5-7B-Instruct").label == "Qwen/Qwen2.5-7B-Instruct"
    assert parse_model(gguf, lora).label == f"{folders['gguf'].parent.name}/model.gguf + " + (
        f"{folders['lora'].parent.name}/lora.gguf"
    )


@pytest.mark.parametrize(
    ("reference", "adapter", "message"),
    [
        ("molbal/cra-v1-7b", None, "name an Ollama model as ollama:NAME"),
        ("ollama:", None, "needs a model name"),
        ("ollama:x", "a", "carries its adapter in its Modelfile"),
        ("{tmp}/missing.gguf", None, "GGUF file not found"),
        ("{tmp}/model.gguf", "{tmp}/adapter", "takes a LoRA adapter .gguf file"),
        ("{tmp}/base", "{tmp}/base", "not a peft adapter folder"),
        ("{tmp}/adapter", "{tmp}/adapter", "is itself a peft adapter"),
        ("{tmp}", None, "a folder without config.json"),
        ("package:no_such_module/x.gguf", None, "is not installed"),
    ],
)
def test_bad_references_say_what_is_wrong(
    folders: dict[str, Path], reference: str, adapter: str | None, message: str
) -> None:
    tmp = folders["base"].parent
    with pytest.raises(ModelSpecError, match=message):
        parse_model(reference.format(tmp=tmp), adapter and adapter.format(tmp=tmp))


def test_the_fingerprint_changes_when_the_weights_do(folders: dict[str, Path]) -> None:
    spec = parse_model(str(folders["adapter"]))
    before = spec.file_fingerprint()
    assert spec.file_fingerprint() == before
    (folders["adapter"] / "adapter_model.safetensors").write_bytes(b"retrained")
    assert spec.file_fingerprint() != before


def test_the_draw_is_fixed_by_seed_and_size_and_stays_in_the_test_split(tmp_path: Path) -> None:
    chunks = write_chunks(tmp_path / "c", {"train": {"1": 5}, "test": {"7": 6, "8": 6}})
    first = select_held_out(chunks, sample=4, seed=3)
    assert first == select_held_out(chunks, sample=4, seed=3)
    assert first.chunks != select_held_out(chunks, sample=4, seed=4).chunks
    assert first.available == 12 and len(first.chunks) == 4
    assert all(chunk.split == "test" for chunk in first.chunks)
    ids = [(c.book_id, c.chunk_index) for c in first.chunks]
    assert ids == sorted(ids)
    assert first.chunks[0].title == f"Title {first.chunks[0].book_id}"
    whole = select_held_out(chunks, sample=100)
    assert len(whole.chunks) == 12 and whole.describe()["sample"] == 100
    described = first.describe()["chunks"][0]
    assert set(described) == {"chunk_id", "book_id", "title", "chunk_index", "sha256_16"}


def test_a_dataset_without_the_split_is_refused(tmp_path: Path) -> None:
    chunks = write_chunks(tmp_path / "c", {"train": {"1": 5}})
    with pytest.raises(HeldOutError, match="no 'test' split"):
        select_held_out(chunks)
    with pytest.raises(HeldOutError, match="at least one chunk"):
        select_held_out(chunks, split="train", sample=0)


def test_a_judge_on_openrouter_without_a_key_is_refused_before_any_work(tmp_path: Path) -> None:
    from storyloom_pipeline.cli import main

    chunks = write_chunks(tmp_path / "c", {"test": {"7": 2}})
    argv = ["eval", "--chunks", str(chunks), "--out", str(tmp_path / "out")]
    argv += ["--model", "ollama:a", "--baseline", "ollama:b", "--judge-model", "judge/x"]
    with pytest.raises(SystemExit, match="the judge: no API key; set OPENROUTER_API_KEY"):
        main(argv)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--max-new-tokens", "0", "max_new_tokens must be at least 1"),
        ("--temperature", "-1", "temperature must be 0 or more"),
        ("--num-ctx", "100", "holds no chunk"),
        ("--sample", "0", "at least one chunk"),
    ],
)
def test_bad_settings_are_refused_before_any_work(
    tmp_path: Path, option: str, value: str, message: str
) -> None:
    from storyloom_pipeline.cli import main

    chunks = write_chunks(tmp_path / "c", {"test": {"7": 2}})
    argv = ["eval", "--chunks", str(chunks), "--out", str(tmp_path / "out")]
    argv += ["--model", "ollama:a", "--baseline", "ollama:b", option, value]
    with pytest.raises(SystemExit, match=message):
        main(argv)
    assert not (tmp_path / "out").exists()
