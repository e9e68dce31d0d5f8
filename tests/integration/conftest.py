"""Integration tests against a REAL Ollama server (opt-in; none runs on CI machines).

Set STORYLOOM_OLLAMA_HOST to a running server and STORYLOOM_TEST_MODEL to a small model it has
(any chat model works; a cra-v1 model also exercises the tags). Without them every test here
is skipped with the reason.
"""

from __future__ import annotations

import os

import httpx
import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def real_ollama() -> tuple[str, str]:
    host = os.environ.get("STORYLOOM_OLLAMA_HOST")
    model = os.environ.get("STORYLOOM_TEST_MODEL")
    if not host or not model:
        pytest.skip("set STORYLOOM_OLLAMA_HOST and STORYLOOM_TEST_MODEL to run against Ollama")
    try:
        version = httpx.get(f"{host.rstrip('/')}/api/version", timeout=5).json()["version"]
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        pytest.skip(f"no Ollama answering at {host}: {exc}")
    print(f"real Ollama {version} at {host}, model {model}")
    return host, model
