"""Continuing a story with Ollama: request building, streaming, and every way it can fail.

`OllamaBackend.continue_story()` is an async generator the GUI and the tests share. It yields
`ContextPrepared`, then the parser's `ReasoningDelta`/`AnswerDelta` as they stream, then exactly
one `Finished` or `Failed`. Cancelling the task that iterates it closes the HTTP response, and
with it the connection, which is the only way to make Ollama stop generating.
"""

from __future__ import annotations

import asyncio
import enum
import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import httpx
import ollama

from storyloom.core.context_window import (
    ContextCut,
    ContextUsage,
    context_token_budget,
    cut_context,
    prompt_overhead,
)
from storyloom.core.directions import DEFAULT_COUNT, directions_from_reply
from storyloom.core.length import Length
from storyloom.core.options import DEFAULT_NUM_PREDICT
from storyloom.core.profiles import CRA_PROFILE, Profile, RequestStyle
from storyloom.core.reply import ReplyReader
from storyloom.core.request_format import (
    RenderedPrompt,
    chunk_text,
    endpoint,
    render,
    render_directions,
    request_body,
)
from storyloom.core.tokens import TokenCalibration, looks_truncated
from storyloom.prompting import AnswerDelta, Malformation, ReasoningDelta

DEFAULT_HOST = "http://127.0.0.1:11434"
DEFAULT_NUM_CTX = 16384
# GenerationStats.done_reason when the answer reached the writer's length and Storyloom closed
# the stream (Ollama's own reasons are "stop" and "length").
LENGTH_REACHED = "length_reached"
# Three one-sentence directions need a few dozen tokens; a cra model reasons first.
DIRECTIONS_NUM_PREDICT = 512


@dataclass(frozen=True, slots=True)
class GenerationSettings:
    model: str
    num_ctx: int = DEFAULT_NUM_CTX
    num_predict: int = DEFAULT_NUM_PREDICT
    # None: the model's own default (its Modelfile PARAMETER, else Ollama's).
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repeat_penalty: float | None = None
    seed: int | None = None
    keep_alive: str | int | None = None  # a Go duration or seconds; None: the server's default
    # A cold 32B model can take minutes to load before the first chunk; after that, a gap this
    # long means the server or the runner is stuck.
    first_chunk_timeout: float = 300.0
    stall_timeout: float = 60.0

    def options(self) -> dict[str, Any]:
        # num_ctx and num_predict always go explicitly: Ollama's default num_ctx depends on the
        # machine's VRAM and silently truncates long stories.
        opts: dict[str, Any] = {"num_ctx": self.num_ctx, "num_predict": self.num_predict}
        for name in ("temperature", "top_p", "top_k", "repeat_penalty", "seed"):
            if (value := getattr(self, name)) is not None:
                opts[name] = value
        return opts


@dataclass(frozen=True, slots=True)
class ContinuationRequest:
    story: str  # the text before the cursor
    settings: GenerationSettings
    guidance: str | None = None
    prefill: str = ""  # e.g. "<reasoning>edited plan</reasoning><answer>" (raw-cra only)
    profile: Profile = CRA_PROFILE  # how the model is asked and how its reply is read
    length: Length = Length.UNLIMITED  # the answer ends once it is this long


@dataclass(frozen=True, slots=True)
class ContextPrepared:
    cut: ContextCut
    prompt: str  # the raw prompt, or the chat messages rendered as ChatML for the estimate
    estimated_prompt_tokens: int
    messages: tuple[dict[str, str], ...] = ()  # what /api/chat is sent (chat profiles)


@dataclass(frozen=True, slots=True)
class AnswerHeld:
    """Answer text held back until the next chunk decides it (a possible echo of the story, a
    sentence end not yet certain). Each one replaces the one before; a stop keeps it."""

    text: str


@dataclass(frozen=True, slots=True)
class GenerationStats:
    model: str
    num_ctx: int
    prompt_tokens: int  # prompt_eval_count (0: unknown, the stream was closed before the end)
    output_tokens: int  # eval_count
    eval_seconds: float
    total_seconds: float
    done_reason: str
    malformations: tuple[Malformation, ...] = ()
    warning: str | None = None  # e.g. Ollama read fewer prompt tokens than it was sent

    @property
    def tokens_per_second(self) -> float:
        return self.output_tokens / self.eval_seconds if self.eval_seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Finished:
    stats: GenerationStats


class FailureKind(enum.Enum):
    SERVER_UNREACHABLE = "server_unreachable"
    MODEL_NOT_FOUND = "model_not_found"
    CONTEXT_TOO_LONG = "context_too_long"
    STREAM_BROKEN = "stream_broken"  # an error line or a dropped connection mid-stream
    STALLED = "stalled"
    SERVER_ERROR = "server_error"


@dataclass(frozen=True, slots=True)
class Failed:
    kind: FailureKind
    message: str
    detail: str = field(default="", compare=False)


BackendEvent = ContextPrepared | ReasoningDelta | AnswerDelta | AnswerHeld | Finished | Failed

_CONTEXT_OVERFLOW = re.compile(r"request \((\d+) tokens\) exceeds the available context size")


class OllamaBackend:
    """One `ollama.AsyncClient` for the app's lifetime; any number of continuations over it."""

    def __init__(self, client: ollama.AsyncClient | None = None, host: str | None = None) -> None:
        # The client honours OLLAMA_HOST when host is None.
        self.client = client or ollama.AsyncClient(host=host)
        self.calibration = TokenCalibration()

    @property
    def host(self) -> str:
        return str(self.client._client.base_url).rstrip("/")

    async def aclose(self) -> None:
        await self.client._client.aclose()

    def prepare(self, request: ContinuationRequest) -> ContextPrepared:
        """Cut the story to the budget and render the prompt the profile asks for."""
        s, style = request.settings, request.profile.style
        estimator = self.calibration.for_model(s.model)
        overhead = prompt_overhead(estimator, request.guidance, request.prefill, style)
        budget = context_token_budget(s.num_ctx, s.num_predict, overhead)
        cut = cut_context(request.story, estimator.chars_for(budget))
        rendered = render(style, cut.text, request.guidance, request.prefill)
        return ContextPrepared(
            cut, rendered.text, estimator.estimate(rendered.text), rendered.messages
        )

    def context_usage(self, request: ContinuationRequest) -> ContextUsage:
        """How full num_ctx would be if `request` were sent now (the status bar's meter)."""
        prepared = self.prepare(request)
        s = request.settings
        return ContextUsage(
            prepared.estimated_prompt_tokens, s.num_predict, s.num_ctx, prepared.cut.is_whole_story
        )

    async def continue_story(self, request: ContinuationRequest) -> AsyncIterator[BackendEvent]:
        prepared = self.prepare(request)
        # If our estimate was too optimistic, Ollama refuses the prompt (truncate: false) and
        # tells us its real size: learn from it and send a shorter context, once.
        for attempt in range(2):
            try:
                async with aclosing(self._continue(request, prepared)) as events:
                    async for event in events:
                        yield event
                return
            except _Overflow as overflow:
                estimator = self.calibration.for_model(request.settings.model)
                before = estimator.chars_per_token
                estimator.calibrate(len(prepared.prompt), overflow.prompt_tokens)
                if attempt == 1 or estimator.chars_per_token >= before:
                    yield overflow.event
                    return
                prepared = self.prepare(request)

    async def _continue(
        self, request: ContinuationRequest, prepared: ContextPrepared
    ) -> AsyncIterator[BackendEvent]:
        yield prepared
        profile, style = request.profile, request.profile.style
        body = request_body(
            style,
            request.settings.model,
            RenderedPrompt(prepared.prompt, prepared.messages),
            request.settings.options(),
            request.settings.keep_alive,
        )
        reader = ReplyReader(
            prepared.cut.text, scheme=profile.scheme, prefill=request.prefill, length=request.length
        )
        final: dict[str, Any] | None = None
        held = ""
        clock = _StreamClock()
        try:
            async with aclosing(self._stream(request.settings, style, body)) as chunks:
                # Read to the end rather than break at the final chunk (the last line anyway),
                # so the HTTP body is consumed and the connection goes back to the pool.
                async for chunk in chunks:
                    clock.tick()
                    if chunk.get("done"):
                        final = chunk
                        continue
                    thinking, content = chunk_text(chunk)
                    if thinking:
                        yield ReasoningDelta(thinking)
                    for event in reader.feed(content):
                        yield event
                    if reader.reached:
                        break  # leaving closes the stream: Ollama stops generating
                    if (now := reader.held) != held:
                        held = now
                        yield AnswerHeld(held)
        except _Overflow:
            raise
        except _Failure as failure:
            for event in reader.close():
                yield event
            yield failure.event
            return
        for event in reader.close():
            yield event
        if reader.reached:
            yield Finished(clock.stats(request.settings, reader.malformations))
            return
        if final is None:
            # The server closed the stream without its final chunk and without an error line.
            yield Failed(
                FailureKind.STREAM_BROKEN,
                "The connection to Ollama ended before the model finished. "
                "What arrived is kept; you can retry.",
            )
            return
        yield Finished(self._stats(request.settings, prepared, final, reader.malformations))

    def _stats(
        self,
        settings: GenerationSettings,
        prepared: ContextPrepared,
        final: dict[str, Any],
        malformations: tuple[Malformation, ...],
    ) -> GenerationStats:
        prompt_tokens = int(final.get("prompt_eval_count") or 0)
        warning = None
        if prompt_tokens and looks_truncated(len(prepared.prompt), prompt_tokens):
            warning = (
                f"Ollama read only {prompt_tokens} prompt tokens of a prompt of about "
                f"{prepared.estimated_prompt_tokens}: the beginning of the context was cut. "
                "Lower the context size or raise num_ctx."
            )
        else:
            self.calibration.for_model(settings.model).calibrate(
                len(prepared.prompt), prompt_tokens
            )
        return GenerationStats(
            model=settings.model,
            num_ctx=settings.num_ctx,
            prompt_tokens=prompt_tokens,
            output_tokens=int(final.get("eval_count") or 0),
            eval_seconds=int(final.get("eval_duration") or 0) / 1e9,
            total_seconds=int(final.get("total_duration") or 0) / 1e9,
            done_reason=str(final.get("done_reason") or ""),
            malformations=malformations,
            warning=warning,
        )

    async def suggest_directions(
        self,
        story: str,
        settings: GenerationSettings,
        profile: Profile = CRA_PROFILE,
        count: int = DEFAULT_COUNT,
    ) -> list[str] | Failed:
        """Ask the model for `count` one-sentence directions the story could take next.

        The end of `story` that fits is sent with `prompting.render_directions_prompt`; the
        reply's directions (possibly fewer than asked, even none) or the failure come back.
        """
        estimator = self.calibration.for_model(settings.model)
        style = profile.style
        overhead = estimator.estimate(render_directions(style, "", count).text)
        budget = context_token_budget(settings.num_ctx, DIRECTIONS_NUM_PREDICT, overhead)
        cut = cut_context(story, estimator.chars_for(budget))
        options = {**settings.options(), "num_predict": DIRECTIONS_NUM_PREDICT}
        prompt = render_directions(style, cut.text, count)
        body = request_body(style, settings.model, prompt, options, settings.keep_alive)
        reply: list[str] = []
        try:
            async with aclosing(self._stream(settings, style, body)) as chunks:
                async for chunk in chunks:
                    reply.append(chunk_text(chunk)[1])  # a thinking model's thoughts: not needed
        except _Failure as failure:
            return failure.event
        return directions_from_reply("".join(reply), profile.scheme, count)

    async def _stream(
        self, settings: GenerationSettings, style: RequestStyle, body: dict[str, Any]
    ) -> AsyncIterator[dict]:
        """The streamed chunks of /api/generate or /api/chat as dicts; failures as `_Failure`.

        One path for both request styles, so they time out and fail in the same ways.
        """
        # The public generate() and chat() have no `truncate` parameter yet, so the request
        # goes through the client's own streaming helper, which gives the same typed errors.
        stream = await self.client._request(dict, "POST", endpoint(style), json=body, stream=True)
        timeout = settings.first_chunk_timeout
        try:
            while True:
                try:
                    async with asyncio.timeout(timeout):
                        chunk = await anext(stream)
                except StopAsyncIteration:
                    return
                timeout = settings.stall_timeout
                yield chunk
        except TimeoutError:
            raise _Failure(
                Failed(
                    FailureKind.STALLED,
                    f"Ollama sent nothing for {timeout:.0f} s, so Storyloom stopped waiting. "
                    "What arrived is kept; you can retry.",
                )
            ) from None
        except ollama.ResponseError as exc:
            failed = _failure_from_response(exc, settings)
            if failed.kind is FailureKind.CONTEXT_TOO_LONG:
                tokens = _CONTEXT_OVERFLOW.search(_unwrap(exc.error))
                raise _Overflow(failed, int(tokens.group(1)) if tokens else 0) from None
            raise _Failure(failed) from None
        except (httpx.ConnectError, httpx.ConnectTimeout, ConnectionError) as exc:
            raise _Failure(
                Failed(
                    FailureKind.SERVER_UNREACHABLE,
                    f"Ollama is not running at {self.host}. Start it (for example with "
                    "`ollama serve`) and try again.",
                    str(exc),
                )
            ) from None
        except httpx.TransportError as exc:
            raise _Failure(
                Failed(
                    FailureKind.STREAM_BROKEN,
                    "The connection to Ollama broke while the model was writing. "
                    "What arrived is kept; you can retry.",
                    repr(exc),
                )
            ) from None
        finally:
            # Closing the generator closes the HTTP response and its connection: this is what
            # tells Ollama to stop generating (on cancel, stall, or an early return).
            await stream.aclose()


class _StreamClock:
    """Timing of a stream closed before Ollama's final chunk, which carries the real stats."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.first: float | None = None
        self.last = self.started
        self.chunks = 0

    def tick(self) -> None:
        self.last = time.monotonic()
        self.first = self.first or self.last
        self.chunks += 1

    def stats(
        self, settings: GenerationSettings, malformations: tuple[Malformation, ...]
    ) -> GenerationStats:
        # Ollama streams one line per generated token.
        return GenerationStats(
            model=settings.model,
            num_ctx=settings.num_ctx,
            prompt_tokens=0,
            output_tokens=self.chunks,
            eval_seconds=self.last - (self.first or self.last),
            total_seconds=time.monotonic() - self.started,
            done_reason=LENGTH_REACHED,
            malformations=malformations,
        )


class _Failure(Exception):
    def __init__(self, event: Failed) -> None:
        super().__init__(event.message)
        self.event = event


class _Overflow(_Failure):
    def __init__(self, event: Failed, prompt_tokens: int) -> None:
        super().__init__(event)
        self.prompt_tokens = prompt_tokens


def _failure_from_response(exc: ollama.ResponseError, settings: GenerationSettings) -> Failed:
    message = exc.error
    if exc.status_code == 404:
        return Failed(
            FailureKind.MODEL_NOT_FOUND,
            f"The model “{settings.model}” is not installed in Ollama. "
            f"Pull it with `ollama pull {settings.model}`.",
            message,
        )
    if exc.status_code == 400 and (overflow := _CONTEXT_OVERFLOW.search(_unwrap(message))):
        return Failed(
            FailureKind.CONTEXT_TOO_LONG,
            f"The prompt needs {overflow.group(1)} tokens, more than the context size "
            f"({settings.num_ctx}) allows. Raise the context size or shorten the guidance.",
            message,
        )
    if exc.status_code == -1:  # an {"error": …} line after the stream had started
        return Failed(
            FailureKind.STREAM_BROKEN,
            f"Ollama reported an error while the model was writing: {message}. "
            "What arrived is kept; you can retry.",
            message,
        )
    return Failed(
        FailureKind.SERVER_ERROR,
        f"Ollama answered with an error ({exc.status_code}): {message}",
        message,
    )


def _unwrap(message: str) -> str:
    """llama-server errors arrive JSON-encoded inside Ollama's error string."""
    try:
        inner = json.loads(message)
    except (json.JSONDecodeError, TypeError):
        return message
    if isinstance(inner, dict) and isinstance(inner.get("error"), dict):
        return str(inner["error"].get("message", message))
    return message
