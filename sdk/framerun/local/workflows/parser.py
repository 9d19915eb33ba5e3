"""Parsing ``${...}``: a tokenizer and a recursive-descent parser (no ``eval``).

The text becomes a tree of :mod:`.expressions` nodes once, at load time, so a
syntax error or an unknown function surfaces at deploy with the step that holds
it, never mid-run.

Grammar, lowest precedence first (Python's order, which Workflows shares)::

    expr    := or
    or      := and ("or" and)*                 booleans only; short-circuits
    and     := not ("and" not)*
    not     := "not" not | cmp
    cmp     := sum (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in") sum)*
    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/" | "//" | "%") unary)*
    unary   := "-" unary | postfix
    postfix := primary ("." NAME | "[" expr "]" | "(" args ")")*
    primary := NUMBER | STRING | true | false | null | NAME | "(" expr ")"
             | "[" [expr ("," expr)*] "]" | "{" [STRING ":" expr ("," ...)*] "}"

A call's callee must be a dotted name (``text.to_upper``); the functions
themselves live in :mod:`.functions`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .expressions import (
    Attr,
    Binary,
    Call,
    Index,
    ListExpr,
    Literal,
    Logical,
    MapExpr,
    Node,
    Unary,
    Var,
)
from .values import is_number

__all__ = [
    "MAX_EXPRESSION_LENGTH",
    "ExpressionError",
    "is_expression",
    "parse_expression",
    "strip_expression",
]

MAX_EXPRESSION_LENGTH = 400  # Cloud Workflows rejects longer expressions at deploy
_EXPRESSION_RE = re.compile(r"^\$\{(.*)\}$", re.DOTALL)


class ExpressionError(ValueError):
    """A malformed expression; the loader adds the routine and step."""


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and _EXPRESSION_RE.match(value) is not None


def strip_expression(value: str) -> str:
    """``"${a.b}"`` → ``"a.b"``."""
    match = _EXPRESSION_RE.match(value)
    if match is None:
        raise ExpressionError(f"{value!r} is not an expression: write ${{...}}")
    return match.group(1)


def parse_expression(text: str) -> Node:
    """Parse the inside of ``${...}``; raises :class:`ExpressionError`."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"expression is {len(text)} characters; Cloud Workflows allows "
            f"{MAX_EXPRESSION_LENGTH}: move parts into assign steps"
        )
    parser = _Parser(text)
    node = parser.expression()
    parser.expect_end()
    return node


# -- tokens ----------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>//|==|!=|<=|>=|[-+*/%<>()\[\]{},.:])
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/", "\\": "\\"}
_KEYWORDS = {"and", "or", "not", "in"}
_CONSTANTS: dict[str, Any] = {
    "true": True,
    "True": True,
    "TRUE": True,
    "false": False,
    "False": False,
    "FALSE": False,
    "null": None,
}


@dataclass(frozen=True)
class _Token:
    kind: str  # num | name | str | op | end
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise ExpressionError(f"unexpected {text[pos]!r} at column {pos + 1} in {text!r}")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _unquote(token: _Token) -> str:
    body = token.text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        esc = body[i + 1]
        if esc in _ESCAPES:
            out.append(_ESCAPES[esc])
            i += 2
        elif esc in "\"'":
            out.append(esc)
            i += 2
        elif esc == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        else:
            raise ExpressionError(f"unknown escape \\{esc} at column {token.pos + i + 2}")
    return "".join(out)


# -- parser ----------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def _is(self, text: str) -> bool:
        tok = self.tok
        return tok.kind in ("op", "name") and tok.text == text

    def _take(self, text: str) -> bool:
        if self._is(text):
            self.i += 1
            return True
        return False

    def _expect(self, text: str) -> None:
        if not self._take(text):
            self._fail(f"expected {text!r}")

    def _fail(self, message: str) -> None:
        tok = self.tok
        found = "end of expression" if tok.kind == "end" else repr(tok.text)
        raise ExpressionError(
            f"{message} but found {found} at column {tok.pos + 1} in {self.text!r}"
        )

    def expect_end(self) -> None:
        if self.tok.kind != "end":
            self._fail("expected end of expression")

    def expression(self) -> Node:
        return self._or()

    def _or(self) -> Node:
        node = self._and()
        while self._take("or"):
            node = Logical("or", node, self._and())
        return node

    def _and(self) -> Node:
        node = self._not()
        while self._take("and"):
            node = Logical("and", node, self._not())
        return node

    def _not(self) -> Node:
        if self._take("not"):
            return Unary("not", self._not())
        return self._comparison()

    def _comparison(self) -> Node:
        node = self._sum()
        while self.tok.kind in ("op", "name") and self.tok.text in _COMPARISONS:
            op = self.tok.text
            self.i += 1
            node = Binary(op, node, self._sum())
        return node

    def _sum(self) -> Node:
        node = self._product()
        while self.tok.kind == "op" and self.tok.text in ("+", "-"):
            op = self.tok.text
            self.i += 1
            node = Binary(op, node, self._product())
        return node

    def _product(self) -> Node:
        node = self._unary()
        while self.tok.kind == "op" and self.tok.text in ("*", "/", "//", "%"):
            op = self.tok.text
            self.i += 1
            node = Binary(op, node, self._unary())
        return node

    def _unary(self) -> Node:
        if self._take("-"):
            operand = self._unary()
            if isinstance(operand, Literal) and is_number(operand.value):
                return Literal(-operand.value)
            return Unary("-", operand)
        return self._postfix()

    def _postfix(self) -> Node:
        node = self._primary()
        while True:
            if self._take("."):
                if self.tok.kind != "name":
                    self._fail("expected a name after '.'")
                node = Attr(node, self.tok.text)
                self.i += 1
            elif self._take("["):
                key = self.expression()
                self._expect("]")
                node = Index(node, key)
            elif self._is("("):
                name = _dotted_name(node)
                if name is None:
                    self._fail("only named functions can be called")
                self.i += 1
                node = Call(str(name), tuple(self._items(")")))
            else:
                return node

    def _items(self, close: str) -> list[Node]:
        items: list[Node] = []
        if self._take(close):
            return items
        while True:
            items.append(self.expression())
            if self._take(close):
                return items
            self._expect(",")

    def _primary(self) -> Node:
        tok = self.tok
        if tok.kind == "num":
            self.i += 1
            is_int = re.fullmatch(r"\d+", tok.text) is not None
            return Literal(int(tok.text) if is_int else float(tok.text))
        if tok.kind == "str":
            self.i += 1
            return Literal(_unquote(tok))
        if tok.kind == "name":
            if tok.text in _CONSTANTS:
                self.i += 1
                return Literal(_CONSTANTS[tok.text])
            if tok.text in _KEYWORDS:
                self._fail("expected a value")
            self.i += 1
            return Var(tok.text)
        if self._take("("):
            node = self.expression()
            self._expect(")")
            return node
        if self._take("["):
            return ListExpr(tuple(self._items("]")))
        if self._take("{"):
            return self._map()
        self._fail("expected a value")
        raise AssertionError("unreachable")

    def _map(self) -> Node:
        entries: list[tuple[str, Node]] = []
        if self._take("}"):
            return MapExpr(())
        while True:
            if self.tok.kind != "str":
                self._fail("map keys in expressions are quoted strings")
            key = _unquote(self.tok)
            self.i += 1
            self._expect(":")
            entries.append((key, self.expression()))
            if self._take("}"):
                return MapExpr(tuple(entries))
            self._expect(",")


_COMPARISONS = {"==", "!=", "<", "<=", ">", ">=", "in"}


def _dotted_name(node: Node) -> str | None:
    if isinstance(node, Var):
        return node.name
    if isinstance(node, Attr):
        base = _dotted_name(node.target)
        return None if base is None else f"{base}.{node.name}"
    return None
