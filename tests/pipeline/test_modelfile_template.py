"""The Modelfile TEMPLATE renders chats exactly as `render_chatml` does, and Ollama keeps it.

The Go template is executed by a small evaluator (gotemplate.py) around which ollama_templates.py
does what the server does (SYSTEM layer first, collation). Both are first checked against what a
real Ollama rendered (transcript 17), then used on sample conversations.
"""

from __future__ import annotations

import json
from pathlib import Path

import gotemplate
import ollama_templates
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ollama_templates import chat_prompt, generate_prompt, tool, tool_call

from storyloom import prompting
from storyloom_pipeline.modelfile import CHATML_TEMPLATE

from fake_ollama.models import SMOL_TEMPLATE
from fake_ollama.transcripts import parse_transcript

SYSTEM = prompting.SYSTEM_PROMPT
STORY = (
    "It was the best of times, it was the worst of times.\n\n"
    '"Who goes there?" cried the guard. {{ .System }} <|im_end|> and a \\ backslash.'
)
PREFILL = "<reasoning>The guard is afraid.</reasoning><answer>"


def test_the_evaluator_renders_what_a_real_ollama_rendered(transcripts_dir: Path) -> None:
    """17 created t1 with a Go template and SYSTEM, then asked the server (v0.32.15) to render a
    generate and a chat request with `_debug_render_only`."""
    exchanges = parse_transcript(transcripts_dir / "17-create-files.http")
    created = json.loads(exchanges.exchange(1).request.body)
    for number, render in ((4, generate_prompt), (5, chat_prompt)):
        request = json.loads(exchanges.exchange(number).request.body)
        rendered = json.loads(exchanges.exchange(number).response.body)
        expected = rendered["_debug_info"]["rendered_template"]
        if render is generate_prompt:
            got = generate_prompt(created["template"], request["prompt"], system=created["system"])
        else:
            got = chat_prompt(created["template"], request["messages"], system=created["system"])
        assert got == expected


def test_the_evaluator_follows_go_semantics() -> None:
    source = (
        "{{- range $i, $m := .Items }}[{{ $i }}:{{ $m }}]{{ else }}none{{ end -}}\n"
        "  {{ and .A .B }}|{{ or .Zero .B }}|{{ not .Zero }}|{{ len .Items }}"
        "{{ if eq .B 2 3 }} eq-any{{ else if .A }} else-if{{ end }}"
        "{{ $x := 1 }}{{ if .A }}{{ $x := 2 }}{{ end }} {{ $x }}"
    )
    template = gotemplate.parse(source)
    assert template.execute({"Items": ["a"], "A": "x", "B": 3, "Zero": 0}) == (
        "[0:a]3|3|true|1 eq-any 1"
    )
    assert template.execute({"Items": [], "A": "", "B": 1, "Zero": 0}) == "none|1|true|0 1"
    with pytest.raises(gotemplate.TemplateError):
        gotemplate.parse("{{ .A | printf }}").execute({"A": 1})


def conversations() -> list[tuple[str, list[dict[str, str]]]]:
    record = prompting.render_training_example(STORY, "He stepped forward.", "He is brave.")
    return [
        ("continuation", prompting.continuation_messages(STORY)),
        ("guided", prompting.continuation_messages(STORY, "The guard lets him in.")),
        ("user only", [{"role": "user", "content": prompting.render_user_prompt(STORY)}]),
        ("training example", record["messages"]),
        ("follow-up", [*record["messages"], {"role": "user", "content": "Go on."}]),
        (
            "own system",
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        ),
        ("system later", [*record["messages"], {"role": "system", "content": "Now shorter."}]),
    ]


def expected(messages: list[dict[str, str]]) -> str:
    """`render_chatml`'s text for what Ollama gets: a trailing assistant message is a prefill."""
    if messages[-1]["role"] == "assistant":
        return prompting.render_chatml(messages[:-1], prefill=messages[-1]["content"])
    return prompting.render_chatml(messages)


@pytest.mark.parametrize(("name", "messages"), conversations(), ids=[c[0] for c in conversations()])
def test_chat_renders_as_render_chatml(name: str, messages: list[dict[str, str]]) -> None:
    assert chat_prompt(CHATML_TEMPLATE, messages, system=SYSTEM) == expected(messages)


@pytest.mark.parametrize(("name", "messages"), conversations(), ids=[c[0] for c in conversations()])
def test_a_trailing_assistant_message_is_the_prefill(
    name: str, messages: list[dict[str, str]]
) -> None:
    if messages[-1]["role"] == "assistant":
        messages = messages[:-1]
    prefilled = [*messages, {"role": "assistant", "content": PREFILL}]
    assert chat_prompt(CHATML_TEMPLATE, prefilled, system=SYSTEM) == prompting.render_chatml(
        messages, prefill=PREFILL
    )


def test_generate_renders_as_render_chatml() -> None:
    user = prompting.render_user_prompt(STORY)
    expected = prompting.render_chatml([{"role": "user", "content": user}])
    assert generate_prompt(CHATML_TEMPLATE, user, system=SYSTEM) == expected


roles = st.sampled_from(["system", "user", "assistant"])


@st.composite
def chats(draw: st.DrawFn) -> list[dict[str, str]]:
    """Conversations Ollama passes through unchanged: no two neighbours share a role (those it
    joins into one message, which `render_chatml` does not)."""
    count = draw(st.integers(1, 6))
    turns: list[dict[str, str]] = []
    for _ in range(count):
        role = draw(roles.filter(lambda r: not turns or turns[-1]["role"] != r))
        turns.append({"role": role, "content": draw(st.text(max_size=40))})
    return turns


@given(messages=chats())
@settings(max_examples=200, deadline=None)
def test_any_conversation_renders_as_render_chatml(messages: list[dict[str, str]]) -> None:
    assert chat_prompt(CHATML_TEMPLATE, messages, system=SYSTEM) == expected(messages)


WEATHER = tool(
    "get_weather",
    "The weather in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def test_tools_are_rendered_in_qwen25s_format() -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [tool_call("get_weather", {"city": "P"})],
        },
        {"role": "tool", "content": '{"sky": "clear"}'},
    ]
    rendered = chat_prompt(CHATML_TEMPLATE, messages, system=SYSTEM, tools=[WEATHER])
    function = (
        '{"name":"get_weather","description":"The weather in a city","parameters":{"type":'
        '"object","properties":{"city":{"type":"string"}},"required":["city"]}}'
    )
    assert rendered == (
        f"<|im_start|>system\n{SYSTEM}\n\n# Tools\n\n"
        "You may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
        f'{{"type": "function", "function": {function}}}\n</tools>\n\n'
        "For each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\n<tool_call>\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n'
        "<|im_start|>user\nWeather in Paris?<|im_end|>\n"
        '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city":"P"}}\n'
        "</tool_call><|im_end|>\n"
        '<|im_start|>user\n<tool_response>\n{"sky": "clear"}\n</tool_response><|im_end|>\n'
        "<|im_start|>assistant\n"
    )


def test_tools_without_a_system_message_get_a_system_turn_of_their_own() -> None:
    rendered = chat_prompt(
        CHATML_TEMPLATE, [{"role": "user", "content": "Hi"}], system="", tools=[WEATHER]
    )
    assert rendered.startswith("<|im_start|>system\n# Tools\n\n")
    assert rendered.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")


# Qwen2.5-Instruct's jinja chat template (tokenizer_config.json), cut to the parts that Ollama's
# capability checks read: it takes tools, renders tool calls and wraps tool results.
QWEN25_CHAT_TEMPLATE = (
    "{%- if tools %}{{- '<|im_start|>system\\n' }}{{- messages[0]['content'] }}"
    "{{- '\\n\\n# Tools\\n\\n<tools>' }}{%- for tool in tools %}{{- tool | tojson }}{%- endfor %}"
    "{%- endif %}{%- for message in messages %}"
    "{%- if message.role == 'assistant' and message.tool_calls %}{%- for tool_call in "
    "message.tool_calls %}{{- '<tool_call>' }}{%- endfor %}"
    "{%- elif message.role == \"tool\" %}{{- '\\n<tool_response>\\n' }}{{- message.content }}"
    "{%- endif %}{%- endfor %}"
)


def smollm2_chat_template() -> str:
    """The jinja template inside the real SmolLM2 GGUF (no tools)."""
    from storyloom_pipeline.base_model import SMOLLM2_REF, resolve
    from storyloom_pipeline.publish.gguf_info import read_gguf_info

    source = resolve(SMOLLM2_REF)
    info = read_gguf_info(Path(source.location) / str(source.gguf_file))
    return str(info.metadata["tokenizer.chat_template"])


def test_a_plain_chatml_template_would_lose_to_qwen25s_own() -> None:
    """The trap (reference 2.4): Ollama's chatml template has no tools, Qwen2.5's jinja has."""
    assert ollama_templates.prefers_gguf_template(QWEN25_CHAT_TEMPLATE, SMOL_TEMPLATE)


def test_the_modelfile_template_is_kept_over_a_gguf_chat_template() -> None:
    assert ollama_templates.go_template_has_tool_round_trip(CHATML_TEMPLATE)
    assert gotemplate.parse(CHATML_TEMPLATE).identifiers() >= {"tools", "toolcalls"}
    assert not ollama_templates.prefers_gguf_template(QWEN25_CHAT_TEMPLATE, CHATML_TEMPLATE)
    assert not ollama_templates.prefers_gguf_template(smollm2_chat_template(), CHATML_TEMPLATE)
