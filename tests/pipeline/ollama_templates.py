"""What an Ollama server does around a model's Go TEMPLATE, for tests (reference 1.2, 2.4).

- chat: when the first message is not a system message, the model's SYSTEM layer is put first;
  consecutive messages of one role are joined with a blank line (tool results excepted);
  the template gets `.Messages`, `.System` (all system texts joined) and `.Tools`;
- generate (not raw): the messages are the system text (the request's or the SYSTEM layer)
  and the prompt as a user message;
- which template runs: since v0.30 a GGUF's jinja `tokenizer.chat_template` wins over the Go
  TEMPLATE when it has more capabilities, or as many with a tool round trip the Go one lacks
  (server/images.go shouldPreferChatTemplate and the capability helpers around it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import gotemplate
from gotemplate import GoString


def tool(name: str, description: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """An `api.Tool` as the template sees it; Go prints `.Function` as its JSON."""
    function = {"name": name, "description": description, "parameters": parameters}
    return {"Type": "function", "Function": GoString(_go_json(function))}


def tool_call(name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    return {"Function": {"Index": 0, "Name": name, "Arguments": GoString(_go_json(arguments))}}


def chat_prompt(
    template: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    system: str,
    tools: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The prompt /api/chat builds for `messages` on a model with this TEMPLATE and SYSTEM."""
    turns = [dict(message) for message in messages]
    if system and (not turns or turns[0]["role"] != "system"):
        turns.insert(0, {"role": "system", "content": system})
    return _execute(template, turns, tools)


def generate_prompt(template: str, prompt: str, *, system: str) -> str:
    """The prompt /api/generate (not raw) builds for `prompt`."""
    turns = [{"role": "system", "content": system}] if system else []
    return _execute(template, [*turns, {"role": "user", "content": prompt}], ())


def collate(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    collated: list[dict[str, Any]] = []
    for message in messages:
        previous = collated[-1] if collated else None
        if previous and previous["role"] == message["role"] and message["role"] != "tool":
            previous["content"] += "\n\n" + message["content"]
        else:
            collated.append(dict(message))
    return collated


def _execute(template: str, turns: list[dict[str, Any]], tools: Sequence[Any]) -> str:
    collated = collate(turns)
    system = "\n\n".join(t["content"] for t in turns if t["role"] == "system")
    data = {
        "System": system,
        "Prompt": "",
        "Response": "",
        "Suffix": "",
        "Messages": [_message(turn) for turn in collated],
        "Tools": list(tools),
        "Think": False,
        "ThinkLevel": "",
        "IsThinkSet": False,
    }
    return gotemplate.parse(template).execute(data)


def _message(turn: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "Role": turn["role"],
        "Content": turn["content"],
        "Thinking": "",
        "Images": None,
        "ToolCalls": list(turn.get("tool_calls", ())),
        "ToolName": turn.get("tool_name", ""),
    }


def _go_json(value: Any) -> str:
    # encoding/json: compact, and <, > and & escaped for HTML safety.
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# -- which template the server runs -----------------------------------------------------------


def go_template_capabilities(template: str) -> set[str]:
    names = gotemplate.parse(template).identifiers()
    return {cap for cap, var in (("tools", "tools"), ("insert", "suffix")) if var in names}


def go_template_has_tool_round_trip(template: str) -> bool:
    names = gotemplate.parse(template).identifiers()
    if not {"tools", "toolcalls"} <= names:
        return False
    return any(mark in template for mark in ('eq .Role "tool"', "tool_response", "TOOL_RESULTS"))


def chat_template_capabilities(chat_template: str) -> set[str]:
    # Tools exactly as images.go; thinking approximated (thinking.TemplateSupportsThinking).
    caps = set()
    if "tools" in chat_template or "tool_call" in chat_template:
        caps.add("tools")
    if "<think>" in chat_template or "enable_thinking" in chat_template:
        caps.add("thinking")
    return caps


def chat_template_has_tool_round_trip(chat_template: str) -> bool:
    if "tools" not in chat_template and "tool_call" not in chat_template:
        return False
    calls = "tool_calls" in chat_template or "assistant_tool_call" in chat_template
    results = (
        "tool_response",
        "tool_results",
        "role'] == 'tool'",
        'role\'] == "tool"',
        "role\"] == 'tool'",
        'role"] == "tool"',
        "message.role == 'tool'",
        'message.role == "tool"',
        "ipython",
    )
    return calls and any(mark in chat_template for mark in results)


def prefers_gguf_template(chat_template: str, go_template: str) -> bool:
    """shouldPreferChatTemplate: True when the server would ignore `go_template`."""
    chat_caps = chat_template_capabilities(chat_template)
    go_caps = go_template_capabilities(go_template)
    go_round_trip = go_template_has_tool_round_trip(go_template)
    if len(chat_caps) > len(go_caps):
        return not go_round_trip or chat_template_has_tool_round_trip(chat_template)
    if chat_caps != go_caps or "tools" not in chat_caps:
        return False
    return chat_template_has_tool_round_trip(chat_template) and not go_round_trip
