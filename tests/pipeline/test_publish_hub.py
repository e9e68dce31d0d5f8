"""Uploading a Modelfile's GGUFs with a model card, through the real huggingface_hub client
against a local fake of the Hub (hf_hub_fake.py): no network."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from gguf_files import write_gguf
from hf_hub_fake import FakeHub

from storyloom import prompting
from storyloom_pipeline import cli
from storyloom_pipeline.modelfile import CHATML_TEMPLATE, parse, render_modelfile
from storyloom_pipeline.publish.hub import HubError, upload_to_hub
from storyloom_pipeline.recipe import load_recipe

from fake_ollama import FakeOllama


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    import huggingface_hub.constants

    # The suite runs with HF_HUB_OFFLINE=1 (tests/conftest.py); this Hub is a local fake.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with FakeHub() as fake:
        yield fake


@pytest.fixture
def modelfile(repo_root: Path, tmp_path: Path) -> Path:
    recipe = load_recipe(repo_root / "pipeline" / "recipes" / "cra-v1-7b-qlora.yaml")
    gguf = write_gguf(tmp_path / "export" / "cra-v1-7b-f16.gguf", architecture="qwen2")
    path = tmp_path / "models" / "cra-v1-7b.Modelfile"
    path.parent.mkdir()
    path.write_text(render_modelfile(recipe, model=gguf, relative_to=path.parent), "utf-8")
    return path


def api(hub: FakeHub, token: str | None = None):  # type: ignore[no-untyped-def]
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub.url, token=token or hub.token)


def test_ggufs_card_and_ollama_files_in_one_commit(
    hub: FakeHub, modelfile: Path, tmp_path: Path
) -> None:
    gguf = tmp_path / "export" / "cra-v1-7b-f16.gguf"

    url = upload_to_hub(
        modelfile, "me/cra-v1-7b-GGUF", ollama_name="molbal/cra-v1-7b", api=api(hub)
    )

    repo = hub.repos["me/cra-v1-7b-GGUF"]
    assert url.startswith(f"{hub.url}/me/cra-v1-7b-GGUF/commit/")
    assert repo.private and repo.commits == ["Upload cra-v1-7b-f16.gguf"]
    assert set(repo.files) == {
        "cra-v1-7b-f16.gguf", "README.md", "Modelfile", "template", "system", "params"
    }  # fmt: skip
    assert repo.files["cra-v1-7b-f16.gguf"] == gguf.read_bytes()
    # What `ollama run hf.co/me/cra-v1-7b-GGUF` reads, and a Modelfile for the files beside it.
    assert repo.files["template"].decode() == CHATML_TEMPLATE
    assert repo.files["system"].decode() == prompting.SYSTEM_PROMPT
    assert json.loads(repo.files["params"])["stop"] == list(prompting.STOP_STRINGS)
    downloaded = parse(repo.files["Modelfile"].decode())
    assert downloaded.from_ == "./cra-v1-7b-f16.gguf"
    assert downloaded.template == CHATML_TEMPLATE

    card = repo.files["README.md"].decode()
    _, front, body = card.split("---\n", 2)
    metadata = yaml.safe_load(front)
    assert metadata["license"] == "apache-2.0"
    assert metadata["base_model"] == "Qwen/Qwen2.5-7B-Instruct"
    assert {"gguf", "ollama", "storyloom"} <= set(metadata["tags"])
    assert "ollama run hf.co/me/cra-v1-7b-GGUF" in body
    assert "ollama run molbal/cra-v1-7b" in body
    assert f"`{prompting.PROMPT_FORMAT_VERSION}`" in body
    assert f"| `cra-v1-7b-f16.gguf` | the model, {gguf.stat().st_size:,} bytes |" in body


def test_an_existing_repository_gets_a_new_commit(hub: FakeHub, modelfile: Path) -> None:
    upload_to_hub(modelfile, "me/cra", api=api(hub))
    upload_to_hub(modelfile, "me/cra", api=api(hub))
    assert len(hub.repos["me/cra"].commits) == 2


def test_a_refused_token_says_how_to_log_in(hub: FakeHub, modelfile: Path) -> None:
    with pytest.raises(HubError, match=r"refused me/cra \(401\): log in with `hf auth login`"):
        upload_to_hub(modelfile, "me/cra", api=api(hub, token="hf_wrong"))
    assert hub.repos == {}


def test_a_modelfile_without_local_files_has_nothing_to_upload(
    hub: FakeHub, tmp_path: Path
) -> None:
    path = tmp_path / "Modelfile"
    path.write_text("FROM qwen2.5:7b-instruct\n", "utf-8")
    with pytest.raises(HubError, match="names no local GGUF file"):
        upload_to_hub(path, "me/cra", api=api(hub))
    assert hub.requests == []


def test_publish_with_hf_repo(
    hub: FakeHub,
    modelfile: Path,
    fake_ollama: FakeOllama,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", hub.url)
    monkeypatch.setenv("HF_TOKEN", hub.token)

    argv = ["publish", str(modelfile), "--name", "molbal/cra-v1-7b", "--hf-repo", "me/cra"]
    assert cli.main([*argv, "--hf-public"]) == 0

    assert fake_ollama.model("molbal/cra-v1-7b") is not None
    assert not hub.repos["me/cra"].private
    assert "ollama run molbal/cra-v1-7b:latest" in hub.repos["me/cra"].files["README.md"].decode()
    assert f"uploaded to the Hugging Face Hub: {hub.url}/me/cra/commit/" in capsys.readouterr().err
