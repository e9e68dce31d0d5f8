"""/api/generate and /api/chat: Ollama's checks in Ollama's order, then a scripted reply.

The order of the checks matters to a client (an unload request with a bad ``raw`` still
unloads), so it follows GenerateHandler and ChatHandler: bind the JSON, find the model, unload,
raw misuse, capabilities, options, load, render, truncate, generate.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fake_ollama.models import ModelSpec
from fake_ollama.records import GenerationRecord
from fake_ollama.scripts import Plan, PromptInfo, Script, plan_reply
from fake_ollama.validation import (
    CHAT_FIELDS,
    GENERATE_FIELDS,
    HttpError,
    bind_json,
    go_quote,
    is_truthy_think,
    parse_keep_alive,
    parse_options,
)
from fake_ollama.wire import (
    ClientGone,
    NdjsonStream,
    ServerStopping,
    go_json,
    rfc3339_nano,
    send_error,
    send_flushed_json,
    send_json,
)

if TYPE_CHECKING:
    from fake_ollama.handler import Call

# Ollama's own check when context shift is off (13 exchange 4).
PROMPT_TOO_LONG = (
    "the prompt is longer than the context length currently available to the model; shorten "
    "the prompt, adjust the context length in settings, or use a model with a longer context "
    "length"
)


@dataclass
class Turn:
    """Everything about one generation request once it has passed validation."""

    endpoint: str  # "generate" or "chat"
    sent_model: str  # echoed as "model" in every chunk (06)
    spec: ModelSpec
    prompt: str  # rendered; what the token counter sees
    messages: tuple[dict[str, str], ...]
    options: dict[str, Any]
    num_ctx: int
    keep_alive: float | None
    stream: bool
    raw: bool
    truncate: bool
    shift: bool
    loaded_ns: int  # perf_counter_ns() when the (simulated) load finished

    @classmethod
    def of(
        cls,
        body: dict[str, Any],
        endpoint: str,
        spec: ModelSpec,
        prompt: str,
        settings: tuple[dict[str, Any], int, int],
        *,
        messages: Sequence[dict[str, str]] = (),
        raw: bool = False,
    ) -> Turn:
        """The turn for a request ``body``; ``settings`` is what ``_load`` returned."""
        options, num_ctx, loaded_ns = settings
        return cls(
            endpoint=endpoint,
            sent_model=body.get("model") or "",
            spec=spec,
            prompt=prompt,
            messages=tuple(messages),
            options=options,
            num_ctx=num_ctx,
            keep_alive=parse_keep_alive(body.get("keep_alive")),
            stream=body.get("stream") is not False,
            raw=raw,
            truncate=body.get("truncate") is not False,
            shift=body.get("shift") is not False,
            loaded_ns=loaded_ns,
        )


def generate(call: Call) -> None:
    body = bind_json(call.request.body, "GenerateRequest", GENERATE_FIELDS)
    keep_alive = parse_keep_alive(body.get("keep_alive"))
    sent = body.get("model") or ""
    spec = _find(call, sent)
    prompt = body.get("prompt") or ""
    if not prompt and keep_alive == 0:
        _load_reply(call, spec, sent, "generate", "unload")  # 12 exchange 2
        return
    if body.get("raw") and (body.get("template") or body.get("system") or body.get("context")):
        raise HttpError(400, "raw mode does not support template, system, or context")  # 11
    _check_think(body, spec, sent)
    if body.get("suffix") and "insert" not in spec.capabilities:
        raise HttpError(400, f"{spec.name.qualified} does not support insert")  # 24 ex. 8
    settings = _load(call, spec, body)
    if not prompt:
        _load_reply(call, spec, sent, "generate", "load", keep_alive)  # 12 exchange 1
        return
    raw = bool(body.get("raw"))
    system = body.get("system") or spec.system
    rendered = prompt if raw else render_chatml(system, [{"role": "user", "content": prompt}])
    if body.get("_debug_render_only"):
        _debug_reply(call, sent, "generate", rendered)  # 17 exchange 4
        return
    turn = Turn.of(body, "generate", spec, rendered, settings, raw=raw)
    run(call, turn, extra_tokens=len(body.get("context") or []))


def chat(call: Call) -> None:
    body = bind_json(call.request.body, "ChatRequest", CHAT_FIELDS)
    keep_alive = parse_keep_alive(body.get("keep_alive"))
    sent = body.get("model") or ""
    spec = _find(call, sent)
    messages = [_message(item) for item in body.get("messages") or []]
    if not messages and keep_alive == 0:
        _load_reply(call, spec, sent, "chat", "unload")  # 12 exchange 9
        return
    if body.get("tools") and "tools" not in spec.capabilities:
        raise HttpError(400, f"{spec.name.qualified} does not support tools")  # 24 ex. 7
    _check_think(body, spec, sent)
    settings = _load(call, spec, body)
    num_ctx = settings[1]
    if not messages:
        _load_reply(call, spec, sent, "chat", "load", keep_alive)  # 12 exchange 8
        return
    if spec.system and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": spec.system})
    truncate = body.get("truncate") is not False
    if truncate:  # chatPrompt drops whole old messages first (reference 5.3)
        messages = _drop_old_messages(call, messages, num_ctx)
    rendered = render_chatml("", messages)
    if body.get("_debug_render_only"):
        _debug_reply(call, sent, "chat", rendered)  # 17 exchange 5
        return
    turn = Turn.of(body, "chat", spec, rendered, settings, messages=messages)
    run(call, turn)


# --------------------------------------------------------------------------------------------
# Checks and helpers
# --------------------------------------------------------------------------------------------


def _find(call: Call, sent: str) -> ModelSpec:
    spec = call.fake.model(sent) if sent else None
    if spec is None:  # the name as sent, in single quotes (10, and model '' in 24 ex. 3)
        raise HttpError(404, f"model '{sent}' not found")
    return spec


def _check_think(body: dict[str, Any], spec: ModelSpec, sent: str) -> None:
    if is_truthy_think(body.get("think")) and "thinking" not in spec.capabilities:
        raise HttpError(400, f"{go_quote(sent)} does not support thinking")  # 22


def _message(item: Any) -> dict[str, str]:
    if not isinstance(item, dict):
        raise HttpError(400, "json: cannot unmarshal into Go value of type api.Message")
    role, content = item.get("role"), item.get("content") or ""
    if not isinstance(role, str) or not isinstance(content, str):
        raise HttpError(400, "json: cannot unmarshal into Go value of type api.Message")
    return {"role": role.lower(), "content": content}


def _load(call: Call, spec: ModelSpec, body: dict[str, Any]) -> tuple[dict[str, Any], int, int]:
    """Options (a wrong type is a 500, 24 ex. 4), the effective num_ctx, and the load.

    The model's PARAMETERs are the defaults the request's options override.
    """
    options = parse_options(spec.parameters) | parse_options(body.get("options"))
    num_ctx = call.fake.effective_num_ctx(spec, options)
    if call.fake.load(spec, num_ctx) and call.fake.load_delay > 0:
        try:
            call.wire.wait(call.fake.load_delay)
        except ClientGone:
            call.fake.record_disconnect(call.request.path, body.get("model") or "", 0)
            raise
    return options, num_ctx, time.perf_counter_ns()


def render_chatml(system: str, messages: list[dict[str, str]]) -> str:
    """The prompt as smol's ChatML template renders it; used for token counting and
    ``_debug_render_only`` (17). Model templates are not executed: every model renders so."""
    turns = ([{"role": "system", "content": system}] if system else []) + messages
    rendered = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in turns)
    return rendered + "<|im_start|>assistant\n"


def _drop_old_messages(
    call: Call, messages: list[dict[str, str]], num_ctx: int
) -> list[dict[str, str]]:
    kept = list(messages)
    while call.fake.count_tokens(render_chatml("", kept)) >= num_ctx:
        droppable = [i for i, m in enumerate(kept[:-1]) if m["role"] != "system"]
        if not droppable:
            break
        del kept[droppable[0]]
    return kept


def _load_reply(
    call: Call,
    spec: ModelSpec,
    sent: str,
    endpoint: str,
    reason: str,
    keep_alive: float | None = None,
) -> None:
    """The load/unload answer: one application/json object even though stream defaults to
    true, with no metrics (12)."""
    if reason == "unload":
        call.fake.unload(spec)
    else:
        call.fake.release(spec, keep_alive)
    reply: dict[str, Any] = {"model": sent, "created_at": rfc3339_nano(time.time_ns())}
    if endpoint == "chat":
        reply["message"] = {"role": "assistant", "content": ""}
    else:
        reply["response"] = ""
    reply |= {"done": True, "done_reason": reason}
    send_json(call.wire, 200, reply)


def _debug_reply(call: Call, sent: str, endpoint: str, rendered: str) -> None:
    reply: dict[str, Any] = {"model": sent, "created_at": rfc3339_nano(time.time_ns())}
    if endpoint == "chat":
        reply["message"] = {"role": "", "content": ""}
    else:
        reply["response"] = ""
    reply |= {"done": False, "_debug_info": {"rendered_template": rendered}}
    send_json(call.wire, 200, reply)


def context_check(
    tokens: int, num_ctx: int, num_keep: int, *, truncate: bool, shift: bool
) -> tuple[int, str | None]:
    """``(prompt_eval_count, error)`` for a prompt of ``tokens`` tokens (13-truncation).

    A prompt that does not fit is silently cut to ``num_ctx - (num_ctx - num_keep) // 2`` tokens
    (719 -> 130 at num_ctx 256), unless ``truncate:false`` (llama-server's error, JSON-encoded
    into Ollama's) or ``shift:false`` (Ollama's own message).
    """
    if tokens < num_ctx:
        return tokens, None
    if not truncate:
        inner = {
            "error": {
                "code": 400,
                "message": f"request ({tokens} tokens) exceeds the available context size "
                f"({num_ctx} tokens), try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": tokens,
                "n_ctx": num_ctx,
            }
        }
        return tokens, go_json(inner).decode()
    if not shift:
        return tokens, PROMPT_TOO_LONG
    keep = min(max(num_keep, 0), num_ctx)
    return num_ctx - (num_ctx - keep) // 2, None


# --------------------------------------------------------------------------------------------
# Generating
# --------------------------------------------------------------------------------------------


def run(call: Call, turn: Turn, *, extra_tokens: int = 0) -> None:
    """Produce the scripted reply for ``turn`` and record what happened."""
    fake, wire = call.fake, call.wire
    tokens = fake.count_tokens(turn.prompt) + extra_tokens
    num_keep = turn.options.get("num_keep", 4)
    evaluated, error = context_check(
        tokens, turn.num_ctx, num_keep, truncate=turn.truncate, shift=turn.shift
    )
    record = GenerationRecord(
        turn.endpoint,
        turn.sent_model,
        turn.prompt,
        tokens,
        evaluated,
        turn.num_ctx,
        evaluated < tokens,
        turn.stream,
    )
    fake.record_generation(record)
    if error is not None:
        record.outcome = "rejected"
        if turn.stream:  # streamResponse flushes an error met before its first line (13 ex. 3)
            send_flushed_json(wire, 400, {"error": error})
        else:  # c.JSON (13 ex. 9)
            send_error(wire, 400, error)
        return
    info = PromptInfo(turn.endpoint, turn.sent_model, turn.prompt, turn.messages)
    script = fake.next_script(turn.spec, info)
    plan = plan_reply(
        script.chunks,
        num_predict=turn.options.get("num_predict", -1),
        stops=turn.options.get("stop", []),
        done_reason=script.done_reason,
    )
    stream = NdjsonStream(wire) if turn.stream else None
    try:
        _produce(call, turn, script, plan, stream, record, tokens, evaluated)
    except ClientGone:
        if record.outcome != "error":  # a client that leaves after reading the error line
            record.outcome = "disconnected"  # did not cut the generation short
            fake.record_disconnect(call.request.path, turn.sent_model, record.lines_sent)
        raise
    except ServerStopping:
        record.outcome = "stopped"
        raise
    finally:
        fake.release(turn.spec, turn.keep_alive)


def _produce(
    call: Call,
    turn: Turn,
    script: Script,
    plan: Plan,
    stream: NdjsonStream | None,
    record: GenerationRecord,
    prompt_tokens: int,
    evaluated: int,
) -> None:
    wire = call.wire
    lines = 0
    stalled = False
    first_token_ns: int | None = None
    # Tokens keep to a schedule, `delay` apart, so the time spent sending a line does not slow
    # a fast script down (a bench streams 2,000 tokens/s).
    due = time.monotonic()
    for index, text in enumerate(plan.steps):
        if script.error_after is not None and lines >= script.error_after:
            _fail(call, script, stream, record)
            return
        if script.stall_after is not None and lines >= script.stall_after and not stalled:
            stalled = True
            wire.wait(script.stall_seconds)
            due = time.monotonic()
        due += script.delay
        wire.wait(due - time.monotonic())
        first_token_ns = first_token_ns or time.perf_counter_ns()
        record.tokens_generated = index + 1
        if text:
            lines += 1
            if stream is not None:
                stream.send(_chunk(turn, text, final=False))
                record.lines_sent = stream.lines_sent
    if script.error_after is not None:  # the reply ended before N lines: the error ends it
        _fail(call, script, stream, record)
        return
    if script.stall_after is not None and not stalled:
        wire.wait(script.stall_seconds)
    final = _chunk(turn, "" if stream is not None else plan.text, final=True)
    if turn.endpoint == "generate" and not turn.raw:
        # The final chunk's context holds the whole prompt, not the truncated one (13 notes).
        final["context"] = fake_token_ids(turn.prompt, prompt_tokens + len(plan.steps))
    final |= _metrics(call.started_ns, turn.loaded_ns, first_token_ns, evaluated, plan.eval_count)
    final["done_reason"] = plan.done_reason
    record.done_reason, record.outcome = plan.done_reason, "done"
    if stream is not None:
        stream.send(_order_final(final))
        stream.finish()
    else:
        send_json(wire, 200, _order_final(final))


def _fail(
    call: Call, script: Script, stream: NdjsonStream | None, record: GenerationRecord
) -> None:
    """The runner died: a last error line under HTTP 200, or a 500 before any line (23)."""
    record.outcome = "error"
    if stream is not None:
        stream.fail(script.error_message)
    else:
        send_error(call.wire, 500, script.error_message)


def _chunk(turn: Turn, text: str, *, final: bool) -> dict[str, Any]:
    chunk: dict[str, Any] = {"model": turn.sent_model, "created_at": rfc3339_nano(time.time_ns())}
    if turn.endpoint == "chat":
        chunk["message"] = {"role": "assistant", "content": text}
    else:
        chunk["response"] = text
    chunk["done"] = final
    return chunk


_FINAL_ORDER = (
    *("model", "created_at", "response", "message", "done", "done_reason", "context"),
    *("total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration"),
    *("eval_count", "eval_duration"),
)


def _order_final(final: dict[str, Any]) -> dict[str, Any]:
    """The final chunk's keys in GenerateResponse/ChatResponse field order (06, 09)."""
    return {key: final[key] for key in _FINAL_ORDER if key in final}


def _metrics(
    started_ns: int, loaded_ns: int, first_token_ns: int | None, evaluated: int, eval_count: int
) -> dict[str, int]:
    """Durations measured on the fake's own clock, in ns. Prompt and eval durations come from
    llama-server in microseconds (``222982000`` in 06). Zero values are omitted (omitempty)."""
    end_ns = time.perf_counter_ns()
    first_ns = first_token_ns or end_ns
    load = max(1, loaded_ns - started_ns)
    prompt_eval = max(1000, round((first_ns - loaded_ns) / 1000) * 1000)
    evaluation = max(1000, round((end_ns - first_ns) / 1000) * 1000)
    metrics = {
        "total_duration": max(end_ns - started_ns, load + prompt_eval + evaluation),
        "load_duration": load,
        "prompt_eval_count": evaluated,
        "prompt_eval_duration": prompt_eval,
        "eval_count": eval_count,
        "eval_duration": evaluation,
    }
    return {key: value for key, value in metrics.items() if value}


def fake_token_ids(text: str, count: int) -> list[int]:
    """Stand-in token ids for ``context``: deterministic, only their number means anything."""
    seed = zlib.crc32(text.encode("utf-8"))
    return [(seed + 7919 * index) % 49152 for index in range(count)]
