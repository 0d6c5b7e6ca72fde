"""The Cloud Logging query language, as much of it as pullfix's log sink filter uses.

`sink_filter()` is the one definition of which log entries reach pullfix: Terraform's log
sink reads the same file (`sink_filter.txt`), `pullfix scan` queries Cloud Logging with it,
and the sandbox evaluates it with `matches()` when serving `entries:list`.

Supported: one comparison per line or joined by AND / OR / NOT (or `-`; OR binds tighter than
AND, as in Logging), parentheses,
`field=value`, `field!=value`, `field:value` (has: substring), `<`, `<=`, `>`, `>=`,
`field=("a" OR "b")`, and `log_id("name")`. Comparisons ignore case, as Logging's do.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from pullfix.errors import PullfixError

__all__ = ["FilterError", "compile_filter", "matches", "sink_filter"]

_TOKEN_RE = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<op><=|>=|!=|=|:|<|>)|(?P<paren>[()])'
    r"|(?P<word>[A-Za-z_][\w.\-]*)|(?P<minus>-))"
)


class FilterError(PullfixError, ValueError):
    """A filter the evaluator cannot parse."""


@cache
def sink_filter() -> str:
    """The log sink filter: pull-failure events from GKE's event exporter."""
    return resources.files("pullfix").joinpath("sink_filter.txt").read_text().strip()


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    for line in text.splitlines():
        line_tokens: list[_Token] = []
        position = 0
        stripped = line.strip()
        if not stripped or stripped.startswith("--"):
            continue
        while position < len(line):
            if not line[position:].strip():
                break
            match = _TOKEN_RE.match(line, position)
            if match is None or match.end() == position:
                raise FilterError(f"cannot read the filter at {line[position : position + 20]!r}")
            kind = match.lastgroup or ""
            line_tokens.append(_Token(kind, match.group(kind)))
            position = match.end()
        if out and line_tokens:
            out.append(_Token("word", "AND"))  # a new line is an AND
        out.extend(line_tokens)
    return out


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise FilterError("the filter ends too early")
        self.index += 1
        return token

    # Cloud Logging's OR binds tighter than AND (explicit, implicit or a new line): `a OR NOT
    # b AND NOT c OR d` is `(a OR (NOT b)) AND ((NOT c) OR d)` (Logging query language,
    # "Boolean operators": cloud.google.com/logging/docs/view/logging-query-language).
    def expression(self) -> Any:
        node = self.disjunction()
        while (token := self.peek()) is not None and token.text != ")":
            if token.text == "AND":
                self.take()
            node = ("and", node, self.disjunction())
        return node

    def disjunction(self) -> Any:
        node = self.negation()
        while (token := self.peek()) is not None and token.text == "OR":
            self.take()
            node = ("or", node, self.negation())
        return node

    def negation(self) -> Any:
        token = self.peek()
        if token is not None and (token.text == "NOT" or token.kind == "minus"):
            self.take()
            return ("not", self.negation())
        return self.primary()

    def primary(self) -> Any:
        token = self.take()
        if token.text == "(":
            node = self.expression()
            if self.take().text != ")":
                raise FilterError("unbalanced parentheses")
            return node
        if token.kind == "word" and token.text == "log_id":
            if self.take().text != "(":
                raise FilterError('log_id needs ("NAME")')
            name = self.take()
            if name.kind != "string" or self.take().text != ")":
                raise FilterError('log_id needs ("NAME")')
            return ("log_id", _unquote(name.text))
        if token.kind != "word":
            raise FilterError(f"expected a field name, found {token.text!r}")
        operator = self.peek()
        if operator is None or operator.kind != "op":
            raise FilterError(f"expected an operator after {token.text}")
        self.take()
        return ("cmp", token.text, operator.text, self.values())

    def values(self) -> list[str]:
        token = self.take()
        if token.text == "(":
            values = [self._value(self.take())]
            while (nxt := self.take()).text != ")":
                if nxt.text != "OR":
                    raise FilterError('a value group is ("a" OR "b")')
                values.append(self._value(self.take()))
            return values
        return [self._value(token)]

    @staticmethod
    def _value(token: _Token) -> str:
        if token.kind == "string":
            return _unquote(token.text)
        if token.kind == "word":
            return token.text
        raise FilterError(f"expected a value, found {token.text!r}")


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


@cache
def compile_filter(text: str) -> Any:
    """Parse a filter once; raises FilterError."""
    tokens = _tokens(text)
    if not tokens:
        return ("true",)
    parser = _Parser(tokens)
    node = parser.expression()
    if parser.peek() is not None:
        raise FilterError(f"unexpected {parser.peek().text!r}")  # type: ignore[union-attr]
    return node


def _field(entry: dict[str, Any], path: str) -> Any:
    value: Any = entry
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _compare(actual: Any, operator: str, wanted: str) -> bool:
    if actual is None or isinstance(actual, dict | list):
        return operator == "!=" and actual is None
    have, want = str(actual).lower(), wanted.lower()
    if operator == ":":
        return want in have
    if operator == "=":
        return have == want
    if operator == "!=":
        return have != want
    return {"<": have < want, "<=": have <= want, ">": have > want, ">=": have >= want}[operator]


def _evaluate(node: Any, entry: dict[str, Any]) -> bool:
    kind = node[0]
    if kind == "true":
        return True
    if kind == "and":
        return _evaluate(node[1], entry) and _evaluate(node[2], entry)
    if kind == "or":
        return _evaluate(node[1], entry) or _evaluate(node[2], entry)
    if kind == "not":
        return not _evaluate(node[1], entry)
    if kind == "log_id":
        log_name = str(entry.get("logName") or "")
        return log_name.rsplit("/logs/", 1)[-1] == urllib.parse.quote(node[1], safe="")
    _, field, operator, values = node
    actual = _field(entry, field)
    if operator == "!=":
        return all(_compare(actual, operator, v) for v in values)
    return any(_compare(actual, operator, v) for v in values)


def matches(text: str, entry: dict[str, Any]) -> bool:
    """Whether a LogEntry (camelCase JSON) satisfies the filter."""
    return _evaluate(compile_filter(text), entry)
