"""ModelManager with the real `ollama` client against the fake server: tags, show, ps, pull,
delete, preload; and the pure download-speed estimator."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

import ollama
import pytest

from storyloom.core.models import (
    ModelError,
    ModelInfo,
    ModelManager,
    PullProgress,
    TransferEstimator,
    kv_bytes_per_token,
    model_key,
)

from fake_ollama import FakeOllama, running_fake_ollama
from fake_ollama.stand_ins import CRA_7B, CRA_7B_SIZE, add_cra_7b

T = TypeVar("T")
CRA, CRA_SIZE = CRA_7B, CRA_7B_SIZE


def run(server_url: str, use: Callable[[ModelManager], Awaitable[T]]) -> T:
    async def main() -> T:
        client = ollama.AsyncClient(host=server_url)
        try:
            return await use(ModelManager(client))
        finally:
            await client._client.aclose()

    return asyncio.run(main())


def test_model_key_is_how_ollama_compares_names() -> None:
    assert model_key("Molbal/CRA-v1-7b") == "molbal/cra-v1-7b:latest"
    assert model_key("qwen2.5:7b") == "qwen2.5:7b"
    assert model_key("localhost:5000/me/story") == "localhost:5000/me/story:latest"


def test_list_combines_tags_show_and_ps(fake_ollama: FakeOllama) -> None:
    add_cra_7b(fake_ollama)
    models = run(fake_ollama.url, lambda m: m.list_models())
    assert [m.name for m in models] == [f"{CRA}:latest", "smol:latest"]  # newest first
    cra, smol = models
    assert cra == ModelInfo(
        name=f"{CRA}:latest",
        size=CRA_SIZE,
        family="qwen2",
        parameter_size="7.6B",
        quantization="Q4_K_M",
        context_length=32768,
        # 30 layers x 4 KV heads of 128 (3584 / 28 heads), K and V, f16
        kv_bytes_per_token=2 * 30 * 4 * 128 * 2,
        capabilities=("completion",),
        loaded_context=None,
    )
    assert (smol.size, smol.family, smol.quantization, smol.context_length) == (
        98362745,
        "llama",
        "Q4_1",
        8192,
    )
    shown = {json.loads(r.body)["model"] for r in fake_ollama.requests_to("/api/show")}
    assert shown == {f"{CRA}:latest", "smol:latest"}
    assert fake_ollama.requests_to("/api/ps")


def test_preload_loads_with_the_continuations_num_ctx(fake_ollama: FakeOllama) -> None:
    async def scenario(manager: ModelManager) -> list[ModelInfo]:
        await manager.preload("smol", 4096, "30m")
        return await manager.list_models()

    (smol,) = run(fake_ollama.url, scenario)
    body = json.loads(fake_ollama.requests_to("/api/generate")[-1].body)
    assert body == {
        "model": "smol",
        "prompt": "",
        "stream": False,
        "options": {"num_ctx": 4096},
        "keep_alive": "30m",
    }
    assert smol.loaded_context == 4096


def test_info_of_one_model_and_of_a_missing_one(fake_ollama: FakeOllama) -> None:
    async def scenario(manager: ModelManager) -> tuple[ModelInfo | None, ModelInfo | None]:
        return await manager.info("smol"), await manager.info(CRA)

    smol, missing = run(fake_ollama.url, scenario)
    assert smol is not None and (smol.name, smol.context_length) == ("smol", 8192)
    assert missing is None


def test_pull_reports_bytes_percent_and_ends_at_one_hundred(fake_ollama: FakeOllama) -> None:
    add_cra_7b(fake_ollama, installed=False)

    async def scenario(manager: ModelManager) -> list[PullProgress]:
        return [step async for step in manager.pull(CRA)]

    steps = run(fake_ollama.url, scenario)
    assert json.loads(fake_ollama.requests_to("/api/pull")[-1].body) == {
        "model": CRA,
        "insecure": False,
        "stream": True,
    }
    assert steps[0] == PullProgress("pulling manifest")
    assert steps[0].fraction is None  # nothing known yet: a busy bar, not 0 %
    done = [s.completed for s in steps]
    assert done == sorted(done)  # never goes backwards
    big = [s for s in steps if s.total >= CRA_SIZE * 0.99]
    assert big[0].completed == 0
    assert [round(s.fraction, 2) for s in big if s.status.startswith("pulling ")][:5] == [
        0.0,
        0.25,
        0.5,
        0.75,
        1.0,
    ]
    assert steps[-1].done and steps[-1].fraction == 1.0
    assert steps[-1].completed == steps[-1].total > CRA_SIZE * 0.99  # all layers
    assert fake_ollama.model(CRA) is not None


def test_cancelling_a_pull_closes_its_connection(fake_ollama: FakeOllama) -> None:
    add_cra_7b(fake_ollama, installed=False)
    fake_ollama.progress_delay = 0.05

    async def scenario(manager: ModelManager) -> int:
        seen = 0

        async def consume() -> None:
            nonlocal seen
            async for _ in manager.pull(CRA):
                seen += 1

        task = asyncio.create_task(consume())
        while seen < 2:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return seen

    run(fake_ollama.url, scenario)
    disconnect = fake_ollama.wait_for_disconnect(timeout=5)
    assert (disconnect.path, disconnect.model) == ("/api/pull", CRA)
    assert fake_ollama.model(CRA) is None  # not installed: the download stopped


def test_pulling_an_unknown_name_says_so(fake_ollama: FakeOllama) -> None:
    async def scenario(manager: ModelManager) -> None:
        async for _ in manager.pull("nobody/nothing"):
            pass

    with pytest.raises(ModelError, match="no model called “nobody/nothing”"):
        run(fake_ollama.url, scenario)


def test_pulling_offline_says_the_library_is_unreachable() -> None:
    with running_fake_ollama(offline=True) as server:

        async def scenario(manager: ModelManager) -> None:
            async for _ in manager.pull(CRA):
                pass

        with pytest.raises(ModelError, match="could not reach its model library") as caught:
            run(server.url, scenario)
    assert "no such host" in str(caught.value)


def test_delete(fake_ollama: FakeOllama) -> None:
    add_cra_7b(fake_ollama)
    run(fake_ollama.url, lambda m: m.delete(CRA))
    assert json.loads(fake_ollama.requests_to("/api/delete")[-1].body) == {"model": CRA}
    assert fake_ollama.model(CRA) is None
    with pytest.raises(ModelError, match=f"model '{CRA}' not found"):
        run(fake_ollama.url, lambda m: m.delete(CRA))


def test_server_down_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="Ollama is not running"):
        run("http://127.0.0.1:9", lambda m: m.list_models())


def test_kv_cache_size_needs_the_whole_shape() -> None:
    info = {
        "general.architecture": "qwen2",
        "qwen2.block_count": 28,
        "qwen2.embedding_length": 3584,
        "qwen2.attention.head_count": 28,
        "qwen2.attention.head_count_kv": 4,
    }
    assert kv_bytes_per_token(info) == 57344  # Qwen2.5-7B: 56 KiB per token
    del info["qwen2.block_count"]
    assert kv_bytes_per_token(info) is None


def test_estimator_sums_layers_and_smooths_the_rate() -> None:
    estimator = TransferEstimator()
    assert estimator.update(0.0, "pulling manifest") == PullProgress("pulling manifest")
    first = estimator.update(0.0, "pulling aaa", "sha256:aaa", 1000, None)
    assert (first.completed, first.total, first.bytes_per_second, first.eta_seconds) == (
        0,
        1000,
        None,
        None,
    )
    estimator.update(0.0, "pulling bbb", "sha256:bbb", 3000, None)
    second = estimator.update(2.0, "pulling aaa", "sha256:aaa", 1000, 1000)
    # 1000 bytes in 2 s; 3000 bytes to go at 500 B/s
    assert (second.completed, second.total, second.bytes_per_second) == (1000, 4000, 500.0)
    assert second.eta_seconds == pytest.approx(6.0)
    assert second.fraction == 0.25
    third = estimator.update(4.0, "pulling bbb", "sha256:bbb", 3000, 3000)
    # 1500 B/s over the last 2 s, weighted by 1 - e^(-2 s / 5 s)
    assert third.bytes_per_second == pytest.approx(500 + (1 - math.exp(-0.4)) * 1000)
    assert third.eta_seconds == 0.0
    assert estimator.update(4.5, "verifying sha256 digest").fraction == 1.0
    final = estimator.update(5.0, "success")
    assert (final.done, final.completed, final.total, final.eta_seconds) == (
        True,
        4000,
        4000,
        0.0,
    )


def test_the_fraction_never_goes_back_when_a_layer_is_announced() -> None:
    estimator = TransferEstimator()
    assert estimator.update(0.0, "pulling aaa", "sha256:aaa", 1000, 1000).fraction == 1.0
    grown = estimator.update(0.1, "pulling bbb", "sha256:bbb", 10, None)
    assert (grown.completed, grown.total, grown.fraction) == (1000, 1010, 1.0)


def test_estimator_learns_nothing_from_repeated_lines() -> None:
    estimator = TransferEstimator()
    estimator.update(0.0, "pulling aaa", "sha256:aaa", 1000, 100)
    same_time = estimator.update(0.0, "pulling aaa", "sha256:aaa", 1000, 300)
    assert same_time.bytes_per_second is None
    later = estimator.update(1.0, "pulling aaa", "sha256:aaa", 1000, 300)
    assert later.bytes_per_second == 200.0  # from the first sample: 200 bytes in 1 s
