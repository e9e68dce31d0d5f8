"""`reason` under injected faults, validation, limits, the Ollama provider and a secret key."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import pytest
from openai_fake import FAULTS, GUIDANCE_MARKER, FakeOpenAI, default_reply
from reason_helpers import SMALL, reason_argv, write_chunks

from storyloom_pipeline.cli import main
from storyloom_pipeline.reasoning.chunk_source import load_chunks
from storyloom_pipeline.reasoning.journal import Journal

from fake_ollama import FakeOllama, Script


def keys(journal: Path) -> list[str]:
    with sqlite3.connect(journal) as db:
        return [key for (key,) in db.execute("SELECT key FROM results")]


def chunk_ids(journal: Path) -> list[str]:
    with sqlite3.connect(journal) as db:
        return [cid for (cid,) in db.execute("SELECT chunk_id FROM results")]


@pytest.fixture(scope="module")
def many_chunks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    books = {str(100 + b): 8 for b in range(5)}  # 40 chunks
    return write_chunks(
        tmp_path_factory.mktemp("chunks"), {"train": books, "test": {"900": 4}}, parquet=True
    )


def test_every_chunk_completes_exactly_once_under_30_percent_faults(
    many_chunks: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.sqlite"
    with FakeOpenAI(fault_rate=0.3, seed=7, stall=1.0, retry_after="1") as server:
        argv = reason_argv(many_chunks, journal, server.url, "--timeout", "0.3")
        assert main([*argv, "--concurrency", "8"]) == 0
    total = len(load_chunks(many_chunks))
    assert total == 44
    assert sorted(set(chunk_ids(journal))) == sorted(chunk_ids(journal))
    assert len(keys(journal)) == total
    # every kind of fault was injected, and each chunk got exactly one good reply
    assert set(server.injected) == set(FAULTS), server.injected
    faults = sum(server.injected.values())
    assert 0.2 < faults / server.requests < 0.4
    assert server.served == total
    print(f"\nfault injection: {total} chunks, {server.requests} requests, {dict(server.injected)}")


def test_retry_after_is_honoured(tmp_path: Path) -> None:
    chunks = write_chunks(tmp_path / "chunks", {"train": {"1": 1}}, parquet=False)
    server = FakeOpenAI(fault_rate=1.0, faults=("429",), retry_after="1")
    server._fault = lambda digest, attempt: "429" if attempt == 0 else None  # type: ignore[method-assign]
    started = time.monotonic()
    with server:
        assert main(reason_argv(chunks, tmp_path / "j.sqlite", server.url)) == 0
    assert time.monotonic() - started >= 1.0
    assert server.requests == 2


def test_a_rerun_skips_what_is_done(many_chunks: Path, tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    with FakeOpenAI() as server:
        assert main([*reason_argv(many_chunks, journal, server.url), "--limit", "10"]) == 0
        assert len(keys(journal)) == 10 and server.requests == 10
        assert main(reason_argv(many_chunks, journal, server.url)) == 0
        assert server.requests == 44
        assert main(reason_argv(many_chunks, journal, server.url)) == 0
        assert server.requests == 44
    assert len(set(keys(journal))) == len(keys(journal)) == 44


def test_max_cost_stops_new_chunks(many_chunks: Path, tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    with FakeOpenAI() as server:
        argv = reason_argv(many_chunks, journal, server.url, "--concurrency", "1")
        assert main([*argv, "--max-cost", "0.0005"]) == 0
    done = len(keys(journal))
    assert 0 < done < 44
    with Journal(journal) as j:
        assert j.spend().cost >= 0.0005


def test_bad_outputs_are_rejected_kept_and_retried(tmp_path: Path) -> None:
    chunks = write_chunks(tmp_path / "chunks", {"train": {"1": 3}}, parquet=False)
    bad = ["I'm sorry, but I can't help with that.", "<reasoning>x</reasoning>", "", "Too short."]

    def reply(prompt: str, attempt: int) -> str:
        if "window 2" in prompt:
            return bad[0]  # always refused: given up for this run
        return bad[attempt] if attempt < 2 else default_reply(prompt, attempt)

    journal = tmp_path / "journal.sqlite"
    with FakeOpenAI(reply=reply) as server:
        assert main(reason_argv(chunks, journal, server.url, "--max-rejections", "2")) == 0
    assert sorted(chunk_ids(journal)) == ["1#0", "1#1"]
    with Journal(journal) as j:
        rejected = j.rejected()
    reasons = [reason for _, reason, _ in rejected]
    assert reasons.count("refusal") == 2 + 3 and "contains the tag <reasoning>" in reasons
    assert {raw for _, _, raw in rejected} == set(bad[:2])
    with sqlite3.connect(journal) as db:
        assert [c for (c,) in db.execute("SELECT chunk_id FROM failures")] == ["1#2"]
    # the one given up on is done by a re-run once the teacher behaves
    with FakeOpenAI() as server:
        assert main(reason_argv(chunks, journal, server.url)) == 0
    assert sorted(chunk_ids(journal)) == ["1#0", "1#1", "1#2"]


def test_guided_mode_stores_the_guidance(tmp_path: Path) -> None:
    chunks = write_chunks(tmp_path / "chunks", {"train": {"1": 2}}, parquet=False)
    journal = tmp_path / "journal.sqlite"
    with FakeOpenAI() as server:
        assert main([*reason_argv(chunks, journal, server.url), "--mode", "guided"]) == 0
        assert server.requests == 4
        # plain and guided results of the same chunk are different keys
        assert main(reason_argv(chunks, journal, server.url)) == 0
    with Journal(journal) as j:
        results = list(j.results())
    assert len(results) == 4
    guided = [r for r in results if r.mode == "guided"]
    assert all(r.guidance and r.guidance.startswith("The travellers") for r in guided)
    assert all(r.requests == 2 for r in guided)
    assert GUIDANCE_MARKER  # the fake answers the guidance prompt with one sentence


def test_ollama_provider_with_faults(fake_ollama: FakeOllama, tmp_path: Path) -> None:
    chunks = write_chunks(tmp_path / "chunks", {"train": {"1": 4}}, parquet=False)
    seen: dict[str, int] = {}

    def script(info) -> Script:  # type: ignore[no-untyped-def]
        seen[info.prompt] = seen.get(info.prompt, 0) + 1
        if seen[info.prompt] == 1:
            return Script(default_reply(info.prompt, 0), error_after=0)  # a 500
        return Script(default_reply(info.prompt, 1))

    fake_ollama.set_script(script)
    journal = tmp_path / "journal.sqlite"
    argv = ["reason", "--chunks", str(chunks), "--journal", str(journal)]
    argv += ["--provider", "ollama", "--model", "smol", "--backoff", "0.01"]
    assert main(argv) == 0
    assert len(seen) == 4 and all(count == 2 for count in seen.values())
    with Journal(journal) as j:
        results = list(j.results())
        assert j.spend().prompt_tokens > 0 and j.spend().completion_tokens > 0
    assert len(results) == 4 and all(r.monologue.startswith("Monologue") for r in results)
    assert {r.served_model for r in results} == {"smol"}


SECRET = "fake-teacher-key-THIS-MUST-NEVER-LEAK-0123456789"  # a dummy, not a real key format


def test_the_api_key_never_appears_in_any_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, caplog
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    chunks = write_chunks(tmp_path / "chunks", SMALL)
    journal = tmp_path / "journal.sqlite"
    # the 500s echo the Authorization header back; the client must redact it
    with FakeOpenAI(fault_rate=0.5, faults=("500", "429"), retry_after="0", api_key=SECRET) as s:
        assert main([*reason_argv(chunks, journal, s.url), "-v", "--max-attempts", "20"]) == 0
    assert s.auth_seen == {f"Bearer {SECRET}"}  # the key was used
    assert s.injected["500"] > 0
    out = tmp_path / "out"
    assert (
        main(["dataset", "--chunks", str(chunks), "--journal", str(journal), "--out", str(out)])
        == 0
    )
    captured = capsys.readouterr()
    logs = caplog.text
    assert "upstream: Bearer ***" in logs  # the echoed key was logged, redacted
    assert SECRET not in captured.out + captured.err + logs
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "journal.sqlite-wal" or p.name == "journal.sqlite" for p in files)
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path


def test_a_missing_key_for_openrouter_is_a_clear_error(tmp_path: Path) -> None:
    chunks = write_chunks(tmp_path / "chunks", {"train": {"1": 1}}, parquet=False)
    argv = ["reason", "--chunks", str(chunks), "--journal", str(tmp_path / "j.sqlite")]
    with pytest.raises(SystemExit, match="OPENROUTER_API_KEY"):
        main(argv)


def test_chunks_read_alike_from_parquet_and_save_to_disk(tmp_path: Path) -> None:
    chunks = write_chunks(tmp_path / "chunks", SMALL)
    from_parquet = load_chunks(chunks)
    import shutil

    shutil.rmtree(chunks / "data")
    assert load_chunks(chunks) == from_parquet
    assert {c.split for c in from_parquet} == {"train", "validation", "test"}
