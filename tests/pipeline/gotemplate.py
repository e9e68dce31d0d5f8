"""A small evaluator for the subset of Go's text/template that the Modelfile TEMPLATE uses.

It exists so a test can run the TEMPLATE's logic on sample conversations and compare the text
with `render_chatml`. Supported, with Go's semantics: text and `{{ }}` actions with the `{{-`/`-}}`
trim markers; `if`/`else if`/`else`/`end`; `range` over a list, optionally as `$i, $v :=`;
`$x := pipeline`; fields (`.A.B`, `$.A`, `$x.A`); string and integer literals; parenthesised
pipelines; the functions `eq`, `ne`, `and`, `or` (short-circuit, returning an operand), `not`,
`len`, `slice`, `index`. Anything else (pipes, `with`, `define`, comments, other functions) is a
`TemplateError`, so the evaluator can never silently render something Go would not.

Data: structs and maps are dicts keyed by Go field names; a value whose String() Go would call
(Ollama's tool JSON) is a `GoString`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

TRIM = " \t\r\n"
_TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<number>-?[0-9]+)|(?P<declare>:=)|(?P<punct>[(),|=])'
    r"|(?P<variable>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
    r"|(?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)


class TemplateError(Exception):
    pass


@dataclass(frozen=True)
class GoString:
    """A value Go prints through its String() method (e.g. Ollama's tool JSON)."""

    text: str


# -- syntax tree ------------------------------------------------------------------------------


@dataclass
class Text:
    text: str


@dataclass
class Term:
    kind: str  # "field", "variable", "string", "number", "pipe", "word"
    value: Any


@dataclass
class Command:
    terms: list[Term]


@dataclass
class Action:
    pipe: Command
    declare: str | None = None  # `$x := ...`


@dataclass
class Branch:
    kind: str  # "if" or "range"
    pipe: Command
    body: list[Any] = field(default_factory=list)
    otherwise: list[Any] = field(default_factory=list)
    variables: tuple[str, ...] = ()


@dataclass
class Template:
    nodes: list[Any]

    def execute(self, data: Any) -> str:
        out: list[str] = []
        _run(self.nodes, data, [{"$": data}], out)
        return "".join(out)

    def identifiers(self) -> set[str]:
        """What Ollama's Template.Vars() reports: field and variable names, lower-cased."""
        return {name.lower() for name in _identifiers(self.nodes)}


def parse(source: str) -> Template:
    pieces = list(_lex(source))
    nodes, end = _parse_list(pieces, 0, top=True)
    assert end == len(pieces)
    return Template(nodes)


def _lex(source: str) -> Iterator[tuple[str, str]]:
    """("text", text) and ("action", inside) pieces, with the trim markers applied."""
    position, trim_next = 0, False
    while True:
        start = source.find("{{", position)
        text = source[position:] if start < 0 else source[position:start]
        if start >= 0 and source.startswith("{{- ", start):
            text = text.rstrip(TRIM)
        if trim_next:
            text = text.lstrip(TRIM)
        if text:
            yield "text", text
        if start < 0:
            return
        end = source.find("}}", start)
        if end < 0:
            raise TemplateError("unclosed action")
        inner = source[start + 2 : end]
        trim_next = inner.endswith(" -")
        inner = inner.removeprefix("- ").removesuffix(" -").strip()
        if inner.startswith("/*"):
            raise TemplateError("comments are not supported")
        yield "action", inner
        position = end + 2


def _parse_list(pieces: list[tuple[str, str]], i: int, top: bool = False) -> tuple[list, int]:
    nodes: list[Any] = []
    while i < len(pieces):
        kind, value = pieces[i]
        if kind == "text":
            nodes.append(Text(value))
            i += 1
            continue
        word = value.split(None, 1)[0] if value else ""
        if word in ("end", "else"):
            if top:
                raise TemplateError(f"unexpected {{{{{value}}}}}")
            return nodes, i
        if word in ("if", "range"):
            branch, i = _parse_branch(pieces, i, word, value[len(word) :])
            nodes.append(branch)
            continue
        if word in ("with", "define", "template", "block", "break", "continue"):
            raise TemplateError(f"{word} is not supported")
        nodes.append(_parse_action(value))
        i += 1
    if not top:
        raise TemplateError("missing {{end}}")
    return nodes, i


def _parse_branch(pieces: list, i: int, kind: str, rest: str) -> tuple[Branch, int]:
    variables: tuple[str, ...] = ()
    if kind == "range" and ":=" in rest:
        names, rest = rest.split(":=", 1)
        variables = tuple(name.strip() for name in names.split(","))
    branch = Branch(kind, _parse_command(rest), variables=variables)
    branch.body, i = _parse_list(pieces, i + 1)
    _, value = pieces[i]
    if value == "end":
        return branch, i + 1
    rest = value.removeprefix("else").strip()
    if rest.startswith("if "):  # `else if x` is `else` holding one nested `if x`
        nested, i = _parse_branch(pieces, i, "if", rest[2:])
        branch.otherwise = [nested]
        return branch, i
    if rest:
        raise TemplateError(f"unsupported {{{{{value}}}}}")
    branch.otherwise, i = _parse_list(pieces, i + 1)
    if pieces[i][1] != "end":
        raise TemplateError("{{else}} after {{else}}")
    return branch, i + 1


def _parse_action(inner: str) -> Action:
    match = re.match(r"(\$[A-Za-z0-9_]+)\s*:=(.*)", inner, re.S)
    if match:
        return Action(_parse_command(match.group(2)), declare=match.group(1))
    return Action(_parse_command(inner))


def _parse_command(source: str) -> Command:
    tokens = _tokens(source)
    terms, rest = _parse_terms(tokens)
    if rest:
        raise TemplateError(f"unexpected {rest[0][1]!r} in {source!r}")
    return Command(terms)


def _tokens(source: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(source.rstrip()):
        match = _TOKEN.match(source, position)
        if not match or match.end() == position:
            raise TemplateError(f"cannot read {source[position:]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _parse_terms(tokens: list[tuple[str, str]]) -> tuple[list[Term], list]:
    terms: list[Term] = []
    while tokens:
        kind, text = tokens[0]
        if kind == "punct" and text == ")":
            break
        tokens = tokens[1:]
        if kind == "punct" and text == "(":
            inner, tokens = _parse_terms(tokens)
            if not tokens or tokens[0][1] != ")":
                raise TemplateError("unclosed (")
            tokens = tokens[1:]
            terms.append(Term("pipe", Command(inner)))
        elif kind == "punct":
            raise TemplateError(f"{text!r} is not supported")
        elif kind == "string":
            terms.append(Term("string", json.loads(text)))
        elif kind == "number":
            terms.append(Term("number", int(text)))
        else:
            terms.append(Term(kind, text))
    return terms, tokens


# -- execution --------------------------------------------------------------------------------


def truth(value: Any) -> bool:
    """Go's template truth: false, 0, nil and empty strings, slices and maps are false."""
    if value is None or value is False:
        return False
    if isinstance(value, int | float | str | list | tuple | dict):
        return bool(value)
    return True


def show(value: Any) -> str:
    if isinstance(value, GoString):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<no value>"
    if isinstance(value, str | int):
        return str(value)
    raise TemplateError(f"printing {type(value).__name__} is not supported")


def _run(nodes: list[Any], dot: Any, scopes: list[dict[str, Any]], out: list[str]) -> None:
    scopes = [*scopes, {}]  # variables declared here end with this list (Go's scoping)
    for node in nodes:
        if isinstance(node, Text):
            out.append(node.text)
        elif isinstance(node, Action):
            value = _evaluate(node.pipe, dot, scopes)
            if node.declare:
                scopes[-1][node.declare] = value
            else:
                out.append(show(value))
        elif node.kind == "if":
            chosen = node.body if truth(_evaluate(node.pipe, dot, scopes)) else node.otherwise
            _run(chosen, dot, scopes, out)
        else:
            _range(node, dot, scopes, out)


def _range(node: Branch, dot: Any, scopes: list[dict[str, Any]], out: list[str]) -> None:
    items = _evaluate(node.pipe, dot, scopes)
    if items is None:
        items = []
    if not isinstance(items, list | tuple):
        raise TemplateError(f"range over {type(items).__name__} is not supported")
    if not items:
        _run(node.otherwise, dot, scopes, out)
    for index, item in enumerate(items):
        values = (index, item)[2 - len(node.variables) :]  # `$i, $v :=`, `$v :=` or none
        names = dict(zip(node.variables, values, strict=True))
        _run(node.body, item, [*scopes, names], out)


def _evaluate(command: Command, dot: Any, scopes: list[dict[str, Any]]) -> Any:
    first, *args = command.terms
    if first.kind == "word" and first.value in FUNCTIONS:
        return FUNCTIONS[first.value](args, lambda term: _term(term, dot, scopes))
    if args:
        raise TemplateError(f"{first.value!r} is not a function")
    return _term(first, dot, scopes)


def _term(term: Term, dot: Any, scopes: list[dict[str, Any]]) -> Any:
    if term.kind in ("string", "number"):
        return term.value
    if term.kind == "pipe":
        return _evaluate(term.value, dot, scopes)
    if term.kind == "field":
        return dot if term.value == "." else _fields(dot, term.value.split(".")[1:])
    if term.kind == "variable":
        name, *path = term.value.split(".")
        for scope in reversed(scopes):
            if name in scope:
                return _fields(scope[name], path)
        raise TemplateError(f"undefined variable {name}")
    if term.value in ("true", "false"):
        return term.value == "true"
    raise TemplateError(f"unknown function {term.value!r}")


def _fields(value: Any, path: Sequence[str]) -> Any:
    for name in path:
        if not isinstance(value, dict) or name not in value:
            raise TemplateError(f"can't evaluate field {name} in {value!r}")
        value = value[name]
    return value


Evaluate = Callable[[Term], Any]


def _and(args: list[Term], evaluate: Evaluate) -> Any:
    value = None
    for arg in args:
        value = evaluate(arg)
        if not truth(value):
            return value
    return value


def _or(args: list[Term], evaluate: Evaluate) -> Any:
    value = None
    for arg in args:
        value = evaluate(arg)
        if truth(value):
            return value
    return value


def _slice(items: Any, *bounds: int) -> Any:
    return items[slice(*bounds)] if len(bounds) == 2 else items[bounds[0] :]


def _strict(function: Callable[..., Any]) -> Callable[[list[Term], Evaluate], Any]:
    return lambda args, evaluate: function(*(evaluate(arg) for arg in args))


FUNCTIONS: dict[str, Callable[[list[Term], Evaluate], Any]] = {
    "and": _and,
    "or": _or,
    "not": _strict(lambda value: not truth(value)),
    "eq": _strict(lambda first, *others: any(first == other for other in others)),
    "ne": _strict(lambda first, second: first != second),
    "len": _strict(len),
    "slice": _strict(_slice),
    "index": _strict(lambda items, *keys: _index(items, keys)),
}


def _index(items: Any, keys: Sequence[Any]) -> Any:
    for key in keys:
        items = items[key]
    return items


def _identifiers(nodes: list[Any]) -> Iterator[str]:
    for node in nodes:
        if isinstance(node, Action):
            yield from _command_identifiers(node.pipe)
        elif isinstance(node, Branch):
            yield from _command_identifiers(node.pipe)
            yield from _identifiers(node.body)
            yield from _identifiers(node.otherwise)


def _command_identifiers(command: Command) -> Iterator[str]:
    for term in command.terms:
        if term.kind == "pipe":
            yield from _command_identifiers(term.value)
        elif term.kind == "field" and term.value != ".":
            yield from term.value.split(".")[1:]
        elif term.kind == "variable":
            name, *path = term.value.split(".")
            yield name
            yield from path
