"""Run the teacher over chunks: bounded concurrency, retries, validation, cost limits.

`concurrency` workers pull chunks from one queue, so at most that many requests are ever in
flight. A failed request is retried by tenacity with exponential backoff and full jitter on
429/5xx/timeouts/dropped connections, waiting at least the server's Retry-After when it sends
one. A rejected output (see `validation`) is kept in the journal and asked for again, at most
`max_rejections` times. A chunk counts as done when its row has committed to the journal;
results are committed in groups (see `_GroupCommit`), each worker waiting for its own.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from storyloom import prompting
from storyloom_pipeline.reasoning.chunk_source import Chunk, result_key
from storyloom_pipeline.reasoning.journal import Journal, Result
from storyloom_pipeline.reasoning.providers import Completion, Provider, ProviderError
from storyloom_pipeline.reasoning.validation import (
    Rejected,
    Rules,
    clean_guidance,
    clean_monologue,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSettings:
    mode: str = "plain"  # or "guided": a guidance sentence first, then a guided monologue
    concurrency: int = 16
    max_attempts: int = 8  # requests per teacher call, the first included
    backoff_initial: float = 1.0  # seconds; the full-jitter window doubles per attempt
    backoff_max: float = 60.0
    max_retry_after: float = 300.0  # a longer Retry-After is capped here
    max_rejections: int = 3  # rejected outputs per chunk before it is given up (for this run)
    limit: int | None = None  # at most this many chunks this run
    max_cost: float | None = None  # USD: start no new chunk once the journal has spent this
    rules: Rules = field(default_factory=Rules)


@dataclass
class RunReport:
    total: int = 0  # chunks in the input
    already_done: int = 0
    planned: int = 0  # chunks this run set out to do
    completed: int = 0
    failed: int = 0  # gave up: retries or rejections exhausted (re-run to try again)
    rejected_outputs: int = 0
    retries: int = 0
    cost: float = 0.0  # this run
    prompt_tokens: int = 0
    completion_tokens: int = 0
    stopped_by_cost: bool = False
    interrupted: bool = False


class _GiveUp(Exception):
    pass


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.retryable


class _Wait:
    """Full-jitter exponential backoff, but never less than the server's Retry-After."""

    def __init__(self, settings: RunSettings) -> None:
        self._backoff = wait_random_exponential(
            multiplier=settings.backoff_initial, max=settings.backoff_max
        )
        self._settings = settings

    def __call__(self, state: RetryCallState) -> float:
        delay = self._backoff(state)
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            jitter = random.uniform(0, min(1.0, self._settings.backoff_initial))
            delay = min(retry_after, self._settings.max_retry_after) + jitter
        return delay


async def complete_with_retries(
    provider: Provider,
    prompt: str,
    settings: RunSettings,
    on_retry: Callable[[RetryCallState], None] | None = None,
) -> Completion:
    """`provider.complete(prompt)`, retried on retryable errors as `settings` say (backoff
    with full jitter, at least the server's Retry-After); the last error propagates. The
    evaluation's judge asks its questions through this too."""
    retrying = AsyncRetrying(
        retry=retry_if_exception(_is_retryable),
        wait=_Wait(settings),
        stop=stop_after_attempt(settings.max_attempts),
        before_sleep=on_retry,
        reraise=True,
    )
    return await retrying(provider.complete, prompt)


class _GroupCommit:
    """Commits finished results to the journal in groups, off the event loop.

    One fsynced commit per result would block the event loop for a millisecond or more each
    time. Instead a worker hands its result over and waits until it has committed: the first
    result starts a commit in a thread at once, and those that finish while it runs gather
    for the next one, so under load one fsync covers many results and at low load nothing
    waits for a timer. Because a worker takes no new chunk until its own result has committed,
    a crash still loses at most one finished result per worker, the same bound as requests in
    flight, and a result counts as done only once it has committed.
    """

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._pending: list[tuple[Result, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def record(self, result: Result) -> bool:
        """Commit `result` (with whatever else is pending); False when it was already done."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((result, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def drain(self) -> None:
        """Wait until everything handed over has been committed (or has failed to)."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.wait([self._flusher])

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                inserted = await asyncio.to_thread(
                    self._journal.record_many, [result for result, _ in batch]
                )
            except asyncio.CancelledError:
                for _, future in batch:
                    future.cancel()
                raise
            except Exception as exc:  # the journal failed: every waiter in the group sees it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), ok in zip(batch, inserted, strict=True):
                if not future.done():  # its worker may have been cancelled meanwhile
                    future.set_result(ok)


class Runner:
    def __init__(
        self,
        provider: Provider,
        journal: Journal,
        settings: RunSettings,
        on_progress: Callable[[RunReport], None] | None = None,
    ) -> None:
        self.provider = provider
        self.journal = journal
        self.settings = settings
        self.report = RunReport()
        self._on_progress = on_progress
        self._commits = _GroupCommit(journal)
        self._spent_before = journal.spend().cost

    def pending(self, chunks: Sequence[Chunk]) -> list[tuple[str, Chunk]]:
        done = self.journal.done_keys()
        keyed = [(result_key(c, self.settings.mode, self.provider.model), c) for c in chunks]
        todo = [(key, chunk) for key, chunk in keyed if key not in done]
        self.report.total = len(chunks)
        self.report.already_done = len(chunks) - len(todo)
        if self.settings.limit is not None:
            todo = todo[: self.settings.limit]
        self.report.planned = len(todo)
        return todo

    async def run(self, todo: Sequence[tuple[str, Chunk]]) -> RunReport:
        queue = iter(todo)
        workers = [
            asyncio.create_task(self._worker(queue))
            for _ in range(min(self.settings.concurrency, len(todo)))
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            # A worker cancelled while its result was committing leaves that commit running:
            # let it finish, so nothing a server answered is lost on an orderly stop.
            await self._commits.drain()
        return self.report

    def _over_budget(self) -> bool:
        limit = self.settings.max_cost
        if limit is not None and self._spent_before + self.report.cost >= limit:
            self.report.stopped_by_cost = True
            return True
        return False

    async def _worker(self, queue) -> None:  # type: ignore[no-untyped-def]
        for key, chunk in queue:
            if self._over_budget():
                return
            try:
                result = await self._reason(key, chunk)
            except _GiveUp as exc:
                self.report.failed += 1
                self.journal.fail(key, chunk.chunk_id, str(exc))
                log.warning("gave up on chunk %s: %s", chunk.chunk_id, exc)
            else:
                if await self._commits.record(result):
                    self.report.completed += 1
            if self._on_progress:
                self._on_progress(self.report)

    async def _reason(self, key: str, chunk: Chunk) -> Result:
        calls: list[Completion] = []
        guidance = None
        if self.settings.mode == "guided":
            prompt = prompting.render_guidance_prompt(chunk.context, chunk.continuation)
            guidance = await self._ask(key, chunk, "guidance", prompt, clean_guidance, calls)
            prompt = prompting.render_guided_monologue_prompt(
                chunk.context, guidance, chunk.continuation
            )
        else:
            prompt = prompting.render_monologue_prompt(chunk.context, chunk.continuation)
        monologue = await self._ask(key, chunk, "monologue", prompt, clean_monologue, calls)
        costs = [c.cost for c in calls]
        return Result(
            key=key,
            chunk_id=chunk.chunk_id,
            mode=self.settings.mode,
            split=chunk.split,
            guidance=guidance,
            monologue=monologue,
            model=self.provider.model,
            served_model=calls[-1].model,
            prompt_tokens=sum(c.prompt_tokens for c in calls),
            completion_tokens=sum(c.completion_tokens for c in calls),
            cost=None if None in costs else sum(c for c in costs if c is not None),
            requests=len(calls),
        )

    async def _ask(
        self,
        key: str,
        chunk: Chunk,
        stage: str,
        prompt: str,
        clean: Callable[[str, Rules], str],
        calls: list[Completion],
    ) -> str:
        """One validated answer to `prompt`; every accepted call is appended to `calls`."""
        for _ in range(self.settings.max_rejections + 1):
            completion = await self._request(chunk, prompt)
            self._account(completion)
            try:
                text = clean(completion.text, self.settings.rules)
            except Rejected as exc:
                self.report.rejected_outputs += 1
                self.journal.reject(
                    key,
                    chunk.chunk_id,
                    stage,
                    exc.reason,
                    completion.text,
                    completion.model,
                    completion.prompt_tokens,
                    completion.completion_tokens,
                    completion.cost,
                )
                log.info("rejected %s for chunk %s: %s", stage, chunk.chunk_id, exc.reason)
                continue
            calls.append(completion)
            return text
        raise _GiveUp(f"{stage} rejected {self.settings.max_rejections + 1} times")

    async def _request(self, chunk: Chunk, prompt: str) -> Completion:
        try:
            return await complete_with_retries(
                self.provider,
                prompt,
                self.settings,
                on_retry=lambda state: self._note_retry(chunk, state),
            )
        except ProviderError as exc:
            raise _GiveUp(str(exc)) from exc

    def _note_retry(self, chunk: Chunk, state: RetryCallState) -> None:
        self.report.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        sleep = state.next_action.sleep if state.next_action else 0.0
        log.info(
            "chunk %s: %s; retry %d in %.2fs", chunk.chunk_id, exc, state.attempt_number, sleep
        )

    def _account(self, completion: Completion) -> None:
        self.report.prompt_tokens += completion.prompt_tokens
        self.report.completion_tokens += completion.completion_tokens
        self.report.cost += completion.cost or 0.0
