"""The Modelfile reader and writer: Ollama's grammar, round trips, and no injection by quoting."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from storyloom_pipeline.modelfile import Modelfile, ModelfileError, parse, quote, render

from fake_ollama.transcripts import parse_transcript

# Pieces that break naive quoting: quotes before line breaks, instruction words at a line
# start, comment marks, backslashes, spaces at the ends, CR, and text outside ASCII.
HOSTILE = [
    '"""',
    '"',
    '""',
    "\n",
    "\r\n",
    "\r",
    "FROM evil",
    "\nFROM evil\n",
    "PARAMETER num_ctx 1",
    "ADAPTER x.gguf",
    "# not a comment",
    "\\",
    "\\n",
    " ",
    "\t",
    "’",
    "{{ .System }}",
    "<|im_end|>",
    "日本語",
    "🙂",
]
hostile_text = st.lists(st.sampled_from(HOSTILE) | st.text(max_size=8), max_size=12).map("".join)


def representable(value: str) -> bool:
    """When a value fits a Modelfile, worked out from Ollama's grammar rather than by parsing:
    only printable characters, spaces, tabs and line breaks survive; a plain value is one
    trimmed line not starting with a quote; \"\"\"…\"\"\" ends early at a line break after a
    triple quote, "…" after any quote (and "…" that begins with \"\"\" is read as \"\"\"…)."""
    if not all(ch.isprintable() or ch in " \t\r\n" for ch in value):
        return False
    plain = value and value == value.strip(" \t") and not re.search("[\r\n]", value)
    if plain and not value.startswith('"'):
        return True
    breaks = [m.start() for m in re.finditer("[\r\n]", value)]
    before = [value[:at].rstrip(" \t\r\n") for at in breaks]
    if not any(text.endswith('"""') for text in before):
        return True
    return not f'"{value}"'.startswith('"""') and not any(text.endswith('"') for text in before)


def with_field(field: str, value: str) -> Modelfile:
    fields = {"from_": "model.gguf", field: value}
    return Modelfile(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["system", "template", "adapter", "from_"])
@given(value=hostile_text)
@settings(max_examples=150, deadline=None)
@example(value='x"""\nFROM evil')
@example(value='"\nFROM evil\n"')
@example(value='end"""   \nFROM evil')
@example(value='"hello"')
@example(value=" padded ")
@example(value="")
def test_hostile_values_read_back_unchanged_or_are_refused(field: str, value: str) -> None:
    modelfile = with_field(field, value)
    try:
        text = render(modelfile)
    except ModelfileError:
        assert not representable(value), f"{value!r} could have been written"
        return
    assert representable(value)
    assert parse(text) == modelfile  # the same single value: nothing injected, nothing lost
    assert render(parse(text)) == text


def test_quotes_before_a_line_break_cannot_inject_an_instruction() -> None:
    system = 'He said "go"\nFROM evil.gguf\nPARAMETER num_ctx 1'  # "…" would end at line 1
    text = render(Modelfile(from_="model.gguf", system=system))
    assert f'SYSTEM """{system}"""' in text
    assert parse(text) == Modelfile(from_="model.gguf", system=system)
    with pytest.raises(ModelfileError, match="no Modelfile quoting"):  # no form survives """\n
        render(Modelfile(from_="model.gguf", system='Be terse."""\nFROM evil.gguf'))


def test_text_no_quoting_can_carry_is_refused() -> None:
    with pytest.raises(ModelfileError, match="no Modelfile quoting"):
        quote('a"""\nb"\nc')


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\u200b", "\u00a0", "\ufeff", "\u2028"])
def test_characters_ollama_would_drop_are_refused(char: str) -> None:
    with pytest.raises(ModelfileError, match="silently drop"):
        quote(f"a{char}b")


parameters = st.lists(
    st.one_of(
        st.tuples(st.just("num_ctx"), st.integers(-(2**40), 2**40)),
        st.tuples(st.just("temperature"), st.floats(allow_nan=False, allow_infinity=False)),
        st.tuples(st.just("use_mmap"), st.booleans()),
        st.tuples(st.just("stop"), hostile_text.filter(representable)),
    ),
    max_size=6,
    unique_by=lambda item: item[0] if item[0] != "stop" else object(),
)
modelfiles = st.builds(
    Modelfile,
    from_=hostile_text.filter(representable),
    adapter=st.none() | hostile_text.filter(representable),
    template=st.none() | hostile_text.filter(representable),
    system=st.none() | hostile_text.filter(representable),
    parameters=parameters.map(tuple),
    messages=st.lists(
        st.tuples(st.sampled_from(["system", "user", "assistant"]), hostile_text),
        max_size=3,
    ).map(lambda items: tuple((r, t) for r, t in items if representable(t))),
    licenses=st.lists(hostile_text.filter(representable), max_size=2).map(tuple),
    header=st.lists(st.text().filter(lambda t: not re.search("[\r\n]", t)), max_size=3).map(tuple),
)


@given(modelfile=modelfiles)
@settings(max_examples=150, deadline=None)
def test_parse_render_round_trip(modelfile: Modelfile) -> None:
    text = render(modelfile)
    assert parse(text) == modelfile
    assert render(parse(text)) == text


def test_committed_modelfiles_are_stable(repo_root: Path) -> None:
    files = sorted((repo_root / "modelfiles").glob("*.Modelfile"))
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert render(parse(text)) == text, path.name


@pytest.mark.parametrize(("transcript", "create", "show"), [("17", 1, 2), ("18", 3, 4)])
def test_reads_what_a_real_ollama_wrote(
    transcripts_dir: Path, transcript: str, create: int, show: int
) -> None:
    """`ollama show` writes Modelfiles with Ollama's own quoting (17: a template holding quotes
    and line breaks, 18: an ADAPTER and repeated stops); they read back as created."""
    path = next(transcripts_dir.glob(f"{transcript}-*.http"))
    exchanges = parse_transcript(path)
    shown = json.loads(exchanges.exchange(show).response.body)
    modelfile = parse(shown["modelfile"])
    assert modelfile.header[0] == 'Modelfile generated by "ollama show"'
    assert modelfile.from_.startswith("/home/writer1/.ollama/models/blobs/sha256-")
    assert modelfile.template == shown["template"]
    assert modelfile.system == shown.get("system")
    sent = json.loads(exchanges.exchange(create).request.body)
    if "parameters" in sent:
        assert modelfile.parameter_dict() == sent["parameters"]
    if "adapters" in sent:
        assert modelfile.adapter is not None and modelfile.adapter.endswith(
            next(iter(sent["adapters"].values())).replace(":", "-")
        )
    assert render(parse(render(modelfile))) == render(modelfile)


def test_ollamas_grammar_details() -> None:
    text = (
        "\ufeff# a header\n"
        "from ./model.gguf\n"
        "  # a comment between instructions is no header\n"
        'System """two\r\nlines"""\r\n'
        "parameter stop <|im_end|>   \n"
        "PARAMETER stop #kept\n"
        "PARAMETER seed -3\n"
        "MESSAGE user hello there\n"
        "LICENSE MIT\n"
        'LICENSE ""\n'
    )
    assert parse(text) == Modelfile(
        from_="./model.gguf",
        system="two\r\nlines",
        parameters=(("stop", "<|im_end|>"), ("stop", "#kept"), ("seed", -3)),
        messages=(("user", "hello there"),),
        licenses=("MIT", ""),
        header=("a header",),
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("SYSTEM hi\n", "no FROM line"),
        ("FROM a\nFROM b\n", "more than one FROM"),
        ("FROM a\nTEMPLATE x\nTEMPLATE y\n", "more than one TEMPLATE"),
        ("FROM a\nINSTRUCT x\n", "command must be one of"),
        ("FROM a\nRENDERER qwen3\n", "not supported"),
        ("FROM a\nPARAMETER numa true\n", "unknown parameter 'numa'"),
        ("FROM a\nPARAMETER mirostat 1\n", "deprecated"),
        ("FROM a\nPARAMETER num_ctx big\n", "invalid int value"),
        ("FROM a\nPARAMETER top_p 1,5\n", "invalid float value"),
        ("FROM a\nPARAMETER use_mmap yes\n", "invalid bool value"),
        ("FROM a\nPARAMETER num_ctx 1\nPARAMETER num_ctx 2\n", "given twice"),
        ("FROM a\nMESSAGE tool hi\n", "MESSAGE role"),
        ('FROM a\nSYSTEM """open\n', "unexpected end of file"),
        ("FROM a\nSYSTEM", "unexpected end of file"),
        ("FROM a\nFROM\n", "command must be one of"),
    ],
)
def test_bad_modelfiles_are_explained(text: str, error: str) -> None:
    with pytest.raises(ModelfileError, match=re.escape(error)):
        parse(text)


def test_parameters_that_would_not_read_back_are_refused() -> None:
    with pytest.raises(ModelfileError, match="cannot be"):
        render(Modelfile(from_="m.gguf", parameters=(("temperature", 1),)))
    with pytest.raises(ModelfileError, match="finite"):
        render(Modelfile(from_="m.gguf", parameters=(("temperature", float("nan")),)))
