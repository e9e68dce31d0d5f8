"""Pull, push, create, blobs, copy and delete through the real client."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import ollama
import pytest

from fake_ollama import FakeOllama, running_fake_ollama
from fake_ollama.models import Weights

CRA = "molbal/cra-v1-7b"
OFFLINE_PULL = (
    'pull model manifest: Get "https://registry.ollama.ai/v2/molbal/cra-v1-7b/manifests/latest": '
    "dial tcp: lookup registry.ollama.ai on 198.51.100.53:53: no such host"
)


@pytest.fixture
def server() -> Iterator[FakeOllama]:
    with running_fake_ollama() as fake:
        yield fake
    assert fake.internal_errors == []


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    path = tmp_path / "story.gguf"
    path.write_bytes(b"GGUF" + bytes(range(256)) * 64)
    return path


def test_pull_streams_progress_and_installs_the_model(server: FakeOllama) -> None:
    server.add_model(
        CRA, family="qwen2", parameter_size="7.6B", size=4_683_087_332, installed=False
    )
    client = ollama.Client(host=server.url)
    assert CRA + ":latest" not in [m.model for m in client.list().models]

    progress = list(client.pull(CRA, stream=True))

    statuses = [p.status for p in progress]
    assert statuses[0] == "pulling manifest"
    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    layers = [p for p in progress if p.status.startswith("pulling ") and p.digest]
    big = [p for p in layers if p.total and p.total > 1_000_000]
    assert big[0].status == f"pulling {big[0].digest.removeprefix('sha256:')[:12]}"
    assert big[0].completed is None  # no bytes yet on the first line
    completed = [p.completed for p in big[1:]]
    assert completed == sorted(completed) and completed[-1] == big[0].total
    assert CRA + ":latest" in [m.model for m in client.list().models]


def test_pull_of_an_unknown_model_fails_in_the_stream(server: FakeOllama) -> None:
    client = ollama.Client(host=server.url)
    seen: list[str] = []
    with pytest.raises(ollama.ResponseError) as caught:
        for progress in client.pull("nobody/nothing", stream=True):
            seen.append(progress.status)
    assert seen == ["pulling manifest"]
    assert caught.value.error == "pull model manifest: file does not exist"


def test_offline_pull_matches_the_recording() -> None:
    with running_fake_ollama(offline=True) as server:
        client = ollama.Client(host=server.url)
        with pytest.raises(ollama.ResponseError) as streamed:
            list(client.pull(CRA, stream=True))
        with pytest.raises(ollama.ResponseError) as waited:
            client.pull(CRA)
        with pytest.raises(ollama.ResponseError) as invalid:
            client.pull("Bad Name!")
    assert (streamed.value.status_code, streamed.value.error) == (-1, OFFLINE_PULL)  # 15 ex. 1
    assert (waited.value.status_code, waited.value.error) == (500, OFFLINE_PULL)  # 15 ex. 2
    assert (invalid.value.status_code, invalid.value.error) == (400, "invalid model name")


def test_a_slow_pull_records_the_disconnect(server: FakeOllama) -> None:
    server.add_model(CRA, installed=False)
    server.progress_delay = 0.05

    async def main() -> None:
        client = ollama.AsyncClient(host=server.url)
        stream = await client.pull(CRA, stream=True)
        await anext(stream)
        await stream.aclose()
        await client._client.aclose()

    asyncio.run(main())

    disconnect = server.wait_for_disconnect(timeout=5)
    assert (disconnect.path, disconnect.model) == ("/api/pull", CRA)
    assert server.model(CRA) is None  # the pull never finished


def test_push_online_offline_and_missing(server: FakeOllama) -> None:
    client = ollama.Client(host=server.url)
    client.copy("smol", "someone/t1")

    pushed = [p.status for p in client.push("someone/t1", stream=True)]
    server.offline = True
    with pytest.raises(ollama.ResponseError) as offline:
        list(client.push("someone/t1", stream=True))
    with pytest.raises(ollama.ResponseError) as missing:
        list(client.push("someone/not-here", stream=True))

    assert pushed[0] == "retrieving manifest" and pushed[-2:] == ["pushing manifest", "success"]
    layer = server.model("someone/t1").layers()[0][0]
    assert offline.value.error.startswith(
        f'Head "https://registry.ollama.ai/v2/someone/t1/blobs/sha256:{layer}": dial tcp'
    )
    assert missing.value.error == (
        "open /home/writer1/.ollama/models/manifests/registry.ollama.ai/someone/not-here/latest: "
        "no such file or directory"
    )


def test_push_to_a_namespace_the_key_does_not_own_is_refused(server: FakeOllama) -> None:
    """Where the registry refuses the server's key, the push fails after `retrieving manifest`
    with errUnauthorized (reference 1.6, 3); in the stream, or as a 500 with stream:false like
    the offline push of 21 exchange 2."""
    client = ollama.Client(host=server.url)
    client.copy("smol", "someone/t1")
    client.copy("smol", "molbal/t1")
    server.registry_account = "molbal"

    statuses = []
    with pytest.raises(ollama.ResponseError) as refused:
        for part in client.push("someone/t1", stream=True):
            statuses.append(part.status)
    with pytest.raises(ollama.ResponseError) as not_streamed:
        client.push("someone/t1")

    assert statuses == ["retrieving manifest"]
    assert (refused.value.error, refused.value.status_code) == ("unauthorized: access denied", -1)
    assert not_streamed.value.status_code == 500
    assert client.push("molbal/t1").status == "success"  # the account's own namespace


def test_create_with_a_license(server: FakeOllama, gguf: Path) -> None:
    """A LICENSE is a layer of its own after SYSTEM; show lists it first (api.ShowResponse)."""
    client = ollama.Client(host=server.url)
    digest = client.create_blob(gguf)
    licenses = ["apache-2.0", "second\nlicence"]

    statuses = [
        p.status
        for p in client.create(
            "licensed", files={"m.gguf": digest}, system="Be brief.", license=licenses, stream=True
        )
    ]
    shown = client.show("licensed")
    inherited = [p.status for p in client.create("child", from_="licensed", stream=True)]

    layer = [f"sha256:{hashlib.sha256(text.encode()).hexdigest()}" for text in licenses]
    system = f"sha256:{hashlib.sha256(b'Be brief.').hexdigest()}"
    new = [s.removeprefix("creating new layer ") for s in statuses if s.startswith("creating")]
    assert new[new.index(system) + 1 :][:2] == layer
    assert shown.license == "apache-2.0\nsecond\nlicence"
    assert 'LICENSE apache-2.0\nLICENSE "second\nlicence"\n' in shown.modelfile
    assert [f"using existing layer {digest}" for digest in layer] == [
        s for s in inherited if s.split()[-1] in layer
    ]


def test_create_from_an_uploaded_gguf(server: FakeOllama, gguf: Path) -> None:
    client = ollama.Client(host=server.url)
    digest = client.create_blob(gguf)
    template = "{{ .System }}{{ .Prompt }}"

    statuses = [
        p.status
        for p in client.create(
            "storyteller",
            files={"story.gguf": digest},
            template=template,
            system="You continue stories.",
            parameters={"num_ctx": 8192, "stop": ["<|im_end|>"]},
            stream=True,
        )
    ]
    shown = client.show("storyteller")

    assert digest == "sha256:" + hashlib.sha256(gguf.read_bytes()).hexdigest()
    assert statuses[:2] == ["parsing GGUF", "verifying conversion"]
    assert statuses[2].startswith("creating new layer sha256:")  # a GGUF nobody uses yet
    template_layer = hashlib.sha256(template.encode()).hexdigest()
    assert f"creating new layer sha256:{template_layer}" in statuses
    assert statuses[-2:] == ["writing manifest", "success"]
    assert shown.template == template
    assert "SYSTEM You continue stories." in shown.modelfile
    assert (
        shown.parameters
        == 'num_ctx                        8192\nstop                           "<|im_end|>"'
    )
    assert server.model("storyteller").parent_model == ""


def test_uploading_an_existing_blob_is_answered_before_the_body(
    server: FakeOllama, gguf: Path
) -> None:
    client = ollama.Client(host=server.url)
    client.create_blob(gguf)
    client.create_blob(gguf)  # 200 + Connection: close, body unread (16 exchange 4)

    first, second = server.requests_to("/api/blobs/" + client.create_blob(gguf))[:2]
    assert first.body == gguf.read_bytes()
    assert (second.body_read, second.body) == (False, b"")


def test_the_async_client_uploads_blobs_chunked(server: FakeOllama, gguf: Path) -> None:
    async def main() -> str:
        client = ollama.AsyncClient(host=server.url)
        digest = await client.create_blob(gguf)
        await client._client.aclose()
        return digest

    digest = asyncio.run(main())

    request = server.requests_to(f"/api/blobs/{digest}")[0]
    assert request.header("Transfer-Encoding") == "chunked"
    assert request.body == gguf.read_bytes()
    assert server.blob_exists(digest)


def test_blob_digest_errors(server: FakeOllama) -> None:
    http = httpx.Client(base_url=server.url)
    wrong = "sha256:" + "3b289d51f876d831646beff95e69f1f30b64afb1fde62ce2920eca295bf69ae1"

    mismatch = http.post(f"/api/blobs/{wrong}", content=b"hello blob\n")
    malformed = http.head("/api/blobs/sha256:1234")
    missing = http.head(f"/api/blobs/{wrong}")

    assert (mismatch.status_code, mismatch.json()["error"]) == (
        400,
        f'digest mismatch, expected "{wrong}", got '
        '"sha256:a0639d03e7e77d7630dffce7bfe26d51813d4c799f13821e5b6786e2736baaed"',
    )
    assert (malformed.status_code, malformed.headers["content-length"]) == (400, "33")
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("request_body", "status", "error"),
    [
        ({"model": "x", "system": "s"}, 400, "neither 'from' or 'files' was specified"),
        (
            {"model": "x", "files": {"/abs.gguf": "sha256:" + "0" * 64}},
            400,
            "file path must be relative",
        ),
        (
            {"model": "x", "from": "smol", "adapters": {"a": "sha256:" + "1" * 64, "b": "x"}},
            400,
            "only one adapter is currently supported",
        ),
        ({"model": "Bad Name!", "from": "smol"}, 400, "invalid model name"),
    ],
)
def test_create_errors_before_streaming(
    server: FakeOllama, request_body: dict[str, object], status: int, error: str
) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        list(
            ollama.Client(host=server.url)._request(
                dict, "POST", "/api/create", json=request_body, stream=True
            )
        )
    assert (caught.value.status_code, caught.value.error) == (status, error)


def test_create_errors_inside_the_stream(server: FakeOllama, gguf: Path) -> None:
    client = ollama.Client(host=server.url)
    digest = client.create_blob(gguf)

    def failure(**fields: object) -> ollama.ResponseError:
        with pytest.raises(ollama.ResponseError) as caught:
            list(client.create("x", stream=True, **fields))  # type: ignore[arg-type]
        return caught.value

    assert failure(files={"m.gguf": digest}, template="{{ .Prompt ").error == (
        "template error: template: :1: unclosed action"
    )
    assert failure(files={"m.gguf": digest}, quantize="q5_K_M").error == (
        "unsupported quantization type Q5_K_M - supported types are F32, F16, Q4_K_S, Q4_K_M, Q8_0"
    )
    assert failure(files={"m.gguf": digest}, quantize="q8_0").error == (
        "quantization is only supported for F16, BF16 and F32 models"  # the upload is Q4_1
    )
    assert failure(files={"m.gguf": "sha256:" + "0" * 64}).error.endswith(
        "sha256-" + "0" * 64 + ": no such file or directory"
    )


def test_create_with_quantize_from_an_f16_blob(server: FakeOllama) -> None:
    f16 = Weights(quantization_level="F16", layer_digest="ab" * 32, layer_size=270_885_600)
    digest = server.add_blob(b"f16 weights", weights=f16)
    client = ollama.Client(host=server.url)

    statuses = [
        p.status
        for p in client.create("t-q8", files={"m.gguf": digest}, quantize="q8_0", stream=True)
    ]
    listed = {m.model: m for m in client.list().models}["t-q8:latest"]

    assert statuses[3] == "using autodetected template chatml"  # 19 exchange 3
    assert listed.details.quantization_level == "Q8_0"
    assert client.show("t-q8").modelinfo["general.file_type"] == 7


def test_create_from_a_model_with_an_adapter(server: FakeOllama, tmp_path: Path) -> None:
    adapter = tmp_path / "lora.gguf"
    adapter.write_bytes(b"lora weights")
    client = ollama.Client(host=server.url)
    digest = client.create_blob(adapter)

    statuses = [
        p.status
        for p in client.create("t-lora", from_="smol", adapters={"lora.gguf": digest}, stream=True)
    ]

    assert statuses[0] == "parsing GGUF"
    assert f"using existing layer {digest}" in statuses
    assert client.show("t-lora").details.parent_model == "smol:latest"
    assert "ADAPTER /home/writer1/.ollama/models/blobs/sha256-" in client.show("t-lora").modelfile


def test_copy_and_delete(server: FakeOllama) -> None:
    client = ollama.Client(host=server.url)

    assert client.copy("smol", "smol-copy").status == "success"
    assert client.delete("smol-copy").status == "success"
    with pytest.raises(ollama.ResponseError) as deleted_twice:
        client.delete("smol-copy")
    with pytest.raises(ollama.ResponseError) as copy_missing:
        client.copy("no-such-model", "x1")

    assert (deleted_twice.value.status_code, deleted_twice.value.error) == (
        404,
        "model 'smol-copy' not found",  # single quotes (20 exchange 6)
    )
    assert copy_missing.value.error == 'model "no-such-model" not found'  # double quotes
    wrong_method = httpx.post(f"{server.url}/api/delete", json={"model": "smol"})
    assert (wrong_method.status_code, wrong_method.headers["allow"]) == (405, "DELETE")


def test_embed_is_not_supported(server: FakeOllama) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        ollama.Client(host=server.url).embed("smol", "hello")
    assert caught.value.status_code == 501
