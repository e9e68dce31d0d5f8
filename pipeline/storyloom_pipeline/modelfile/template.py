"""The Modelfile TEMPLATE: Ollama's Go template that renders chat exactly as `render_chatml` does.

With the model's SYSTEM layer set to `SYSTEM_PROMPT`, Ollama's chat and (non-raw) generate
endpoints render a conversation through this template to the very text that
`storyloom.prompting.render_chatml` gives the app and the training data: each message as
`<|im_start|>role\\ncontent<|im_end|>\\n` in order (system messages where they stand), then an
open `<|im_start|>assistant\\n`. A conversation that already ends with an assistant message is a
prefill: that message stays open, as `render_chatml(messages, prefill=...)` leaves it.

Why it also speaks Qwen2.5's tool format. Since v0.30 Ollama runs a GGUF's own jinja
`tokenizer.chat_template` *instead of* the Modelfile TEMPLATE when the jinja one has more
capabilities (server/images.go `shouldPreferChatTemplate`, reference 2.4). Qwen2.5's jinja
template handles tools, so a plain ChatML TEMPLATE would be ignored for chat on any Qwen2.5 GGUF
(our merged exports and the `qwen2.5:*-instruct` bases alike). Ollama keeps the Go template when
it has the same capabilities *and* a tool round trip (it uses `.Tools` and `.ToolCalls` and
handles `eq .Role "tool"`); so this template renders tools, tool calls and tool results the way
Qwen2.5 was trained on them (its tokenizer_config chat template, as Ollama's own `qwen2.5`
template does). None of that text appears unless a request carries tools. `publish` checks with
`/api/show` which template the server really chose.
"""

from __future__ import annotations

CHATML_TEMPLATE = """\
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if and (eq $i 0) (or (eq .Role "system") $.Tools) }}<|im_start|>system
{{ if eq .Role "system" }}{{ .Content }}{{ end }}
{{- if $.Tools }}{{ if eq .Role "system" }}

{{ end }}# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{{- range $.Tools }}
{"type": "function", "function": {{ .Function }}}
{{- end }}
</tools>

For each function call, return a json object with function name and arguments within \
<tool_call></tool_call> XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call>
{{- end }}<|im_end|>
{{ end }}
{{- if and (eq $i 0) (eq .Role "system") }}
{{- else if eq .Role "tool" }}<|im_start|>user
<tool_response>
{{ .Content }}
</tool_response><|im_end|>
{{ else if .ToolCalls }}<|im_start|>assistant
{{- if .Content }}
{{ .Content }}
{{- end }}
{{- range .ToolCalls }}
<tool_call>
{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}
</tool_call>
{{- end }}<|im_end|>
{{ else }}<|im_start|>{{ .Role }}
{{ .Content }}
{{- if not (and $last (eq .Role "assistant")) }}<|im_end|>
{{ end }}
{{- end }}
{{- if and $last (ne .Role "assistant") }}<|im_start|>assistant
{{ end }}
{{- end }}"""
