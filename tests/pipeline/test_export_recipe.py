"""`export --recipe` on a cra-v1 run folder as `train --merge` leaves it: an adapter whose config
names its base by Hub id (Qwen/Qwen2.5-7B-Instruct) and the merged model, here of a tiny random
Qwen2 so that every file is written in seconds. Offline: a Hub id's config comes from the
Hugging Face cache, never from the network."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from storyloom_pipeline.cli import main  # noqa: E402
from storyloom_pipeline.export.reader import read_gguf  # noqa: E402
from storyloom_pipeline.recipe import load_recipe  # noqa: E402
from storyloom_pipeline.train import RunFolder, merge_adapter  # noqa: E402

RECIPE = Path(__file__).parents[2] / "pipeline" / "recipes" / "cra-v1-7b-qlora.yaml"
HUB_ID = "Qwen/Qwen2.5-7B-Instruct"
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass(frozen=True)
class TinyRun:
    root: Path  # the working directory: runs/<recipe name>/ is under it
    folder: RunFolder
    base: Path  # the tiny base model (a folder the adapter does not name)


@pytest.fixture(scope="module")
def tiny_run(qwen2_tokenizer, tmp_path_factory: pytest.TempPathFactory) -> TinyRun:
    from peft import LoraConfig, get_peft_model
    from qwen2_tiny import tiny_qwen2_model

    root = tmp_path_factory.mktemp("cra-run")
    base = root / "base"
    model = tiny_qwen2_model()
    model.save_pretrained(base)
    qwen2_tokenizer.save_pretrained(base)
    folder = RunFolder(root / RunFolder.for_recipe(load_recipe(RECIPE).name).path)
    lora = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS))
    with torch.no_grad():  # peft starts B at zero, which would make an all-zero adapter
        for name, parameter in lora.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0.0, 0.05)
    lora.save_pretrained(folder.adapter)
    qwen2_tokenizer.save_pretrained(folder.adapter)
    set_adapter_base(folder.adapter, HUB_ID)  # what train writes for the cra-v1 recipes
    merge_adapter(folder.adapter, folder.merged, base_model=str(base))
    return TinyRun(root, folder, base)


def set_adapter_base(adapter: Path, base: str) -> None:
    path = adapter / "adapter_config.json"
    config = json.loads(path.read_text("utf-8"))
    path.write_text(json.dumps(config | {"base_model_name_or_path": base}), "utf-8")


def test_export_recipe_writes_the_adapter_and_merged_ggufs_of_a_hub_based_run(
    tiny_run: TinyRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tiny_run.root)
    assert main(["export", "--recipe", str(RECIPE)]) == 0
    gguf = tiny_run.folder.gguf
    assert {p.name for p in gguf.iterdir()} == {
        "cra-v1-7b-adapter.gguf",
        "cra-v1-7b-F16.gguf",
        "cra-v1-7b-Q8_0.gguf",
    }
    adapter = read_gguf(gguf / "cra-v1-7b-adapter.gguf")
    assert adapter.metadata["general.architecture"] == "qwen2"
    assert len(adapter.tensors) == 2 * 7 * 2  # A and B of 7 projections in 2 layers


def test_an_adapter_alone_reads_its_hub_base_config_from_the_hf_cache(
    tiny_run: TinyRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    cache = tmp_path / "hub"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))

    def export(out: Path, *extra: str) -> int:
        argv = ["export", "--adapter", str(tiny_run.folder.adapter), "--out", str(out)]
        return main([*argv, "--name", "cra", "--tokenizer-pre", "qwen2", *extra])

    with pytest.raises(SystemExit, match=rf"config of the base model '{HUB_ID}' .* with --base"):
        export(tmp_path / "out")  # offline, and nothing cached
    # the cache as a download of the base (training) left it: refs/main -> snapshot
    repo = cache / "models--Qwen--Qwen2.5-7B-Instruct"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "snapshots" / commit).mkdir(parents=True)
    shutil.copy(tiny_run.base / "config.json", repo / "snapshots" / commit / "config.json")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    assert export(tmp_path / "out") == 0
    assert export(tmp_path / "with-base", "--base", str(tiny_run.base)) == 0
    from_cache = read_gguf(tmp_path / "out" / "cra-adapter.gguf").tensors
    from_folder = read_gguf(tmp_path / "with-base" / "cra-adapter.gguf").tensors
    assert from_cache.keys() == from_folder.keys()
    for name, tensor in from_cache.items():
        assert (tensor.array() == from_folder[name].array()).all(), name


def test_asking_only_for_a_k_quant_leaves_an_existing_f16_alone(
    tiny_run: TinyRun, tmp_path: Path
) -> None:
    from storyloom_pipeline.export.metadata import ExportInfo
    from storyloom_pipeline.export.model_gguf import export_merged

    pytest.importorskip("llama_cpp")
    earlier = tmp_path / "cra-F16.gguf"  # e.g. the file a committed Modelfile points at
    earlier.write_bytes(b"an F16 exported earlier")
    info = ExportInfo(name="cra", tokenizer_pre="qwen2")
    written = export_merged(tiny_run.folder.merged, tmp_path, info, ["q4_k_m"], n_threads=1)
    assert written == {"q4_k_m": tmp_path / "cra-Q4_K_M.gguf"}
    assert read_gguf(written["q4_k_m"]).metadata["general.file_type"] == 15  # MOSTLY_Q4_K_M
    assert earlier.read_bytes() == b"an F16 exported earlier"
    assert {p.name for p in tmp_path.iterdir()} == {"cra-F16.gguf", "cra-Q4_K_M.gguf"}


def run_as_trained(tiny_run: TinyRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunFolder:
    """A copy of the run as train --merge left it (another test may have exported into its
    gguf/), in `tmp_path` as the working directory; its run folder."""
    runs = tiny_run.root / "runs"
    shutil.copytree(runs, tmp_path / "runs", ignore=shutil.ignore_patterns("gguf"))
    monkeypatch.chdir(tmp_path)
    return RunFolder.for_recipe(load_recipe(RECIPE).name)


def test_export_recipe_refuses_a_merge_that_is_stale_or_unfinished(
    tiny_run: TinyRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = run_as_trained(tiny_run, tmp_path, monkeypatch)
    # trained again since the merge: another adapter in adapter/
    set_adapter_base(folder.adapter, "Qwen/Qwen2.5-7B-Instruct-retrained")
    with pytest.raises(SystemExit, match="merged from another adapter than"):
        main(["export", "--recipe", str(RECIPE)])
    (folder.merged / "storyloom-merge.json").unlink()  # a merge that never finished
    with pytest.raises(SystemExit, match=r"holds no finished merge .* --merge` again"):
        main(["export", "--recipe", str(RECIPE)])
    assert not folder.gguf.exists()


def test_export_recipe_under_another_name_reads_the_run_train_wrote(
    tiny_run: TinyRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--name renames the files, not the run folder: that stays the recipe's."""
    gguf = run_as_trained(tiny_run, tmp_path, monkeypatch).gguf
    argv = ["export", "--recipe", str(RECIPE), "--name", "cra-renamed", "--types", "f16"]
    assert main(argv) == 0
    assert {p.name for p in gguf.iterdir()} == {"cra-renamed-adapter.gguf", "cra-renamed-F16.gguf"}
    assert read_gguf(gguf / "cra-renamed-F16.gguf").metadata["general.name"] == "cra-renamed"
