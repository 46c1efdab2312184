"""A small SOQL subset for the mock Salesforce server: tokenizer, recursive-descent parser and an
evaluator over in-memory records.

Supported::

    SELECT path, path … FROM Object
    [WHERE condition] [ORDER BY path [ASC|DESC] [NULLS FIRST|LAST], …] [LIMIT n]

    condition  := or
    or         := and (OR and)*
    and        := not (AND not)*
    not        := NOT not | '(' condition ')' | comparison
    comparison := path (= | != | <> | < | <= | > | >=) literal
                | path [NOT] IN '(' literal, … ')'
                | path LIKE 'text%'
    literal    := 'string' | number | TRUE | FALSE | NULL | 2017-03-01 | 2017-03-01T17:00:00Z
    path       := Name ('.' Name)*          (Owner.Name follows the OwnerId lookup)

Values compare by the field's type (dateTime, date, number, boolean, text), as Salesforce does;
a comparison with NULL is only true for ``= NULL`` / ``!= NULL``. Anything outside the subset is
a :class:`SoqlError` (the server answers ``MALFORMED_QUERY``), so a connector that sends other
SOQL fails the tests instead of being answered wrongly.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


class SoqlError(ValueError):
    pass


# -- tokens -----------------------------------------------------------------------------------

KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC",
            "DESC", "NULLS", "FIRST", "LAST", "LIMIT", "TRUE", "FALSE", "NULL"}

TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),.])
""", re.VERBOSE)


@dataclass(frozen=True)
class Tok:
    kind: str  # keyword, name, string, number, date, datetime, op, punct, end
    value: Any
    pos: int


def _unescape(body: str) -> str:
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append({"n": "\n", "r": "\r", "t": "\t"}.get(nxt, nxt))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def tokenize(text: str) -> list[Tok]:
    toks: list[Tok] = []
    pos = 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise SoqlError(f"unexpected character {text[pos]!r} at {pos}")
        kind = m.lastgroup or ""
        raw = m.group()
        if kind == "name" and raw.upper() in KEYWORDS:
            toks.append(Tok("keyword", raw.upper(), pos))
        elif kind == "string":
            toks.append(Tok("string", _unescape(raw[1:-1]), pos))
        elif kind == "number":
            toks.append(Tok("number", Decimal(raw), pos))
        elif kind == "datetime":
            toks.append(Tok("datetime", dt.datetime.fromisoformat(raw.replace("Z", "+00:00")), pos))
        elif kind == "date":
            toks.append(Tok("date", dt.date.fromisoformat(raw), pos))
        elif kind != "space":
            toks.append(Tok(kind, raw, pos))
        pos = m.end()
    toks.append(Tok("end", None, pos))
    return toks


# -- syntax tree ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compare:
    path: tuple[str, ...]
    op: str  # = != < <= > >= IN NOT IN LIKE
    value: Any  # a literal, or a tuple of literals for IN


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND, OR
    parts: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    part: Any


@dataclass(frozen=True)
class Order:
    path: tuple[str, ...]
    descending: bool
    nulls_last: bool


@dataclass(frozen=True)
class Query:
    fields: tuple[tuple[str, ...], ...]
    sobject: str
    where: Any
    order_by: tuple[Order, ...]
    limit: int | None


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Tok:
        return self.toks[self.i]

    def take(self) -> Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def is_kw(self, *words: str) -> bool:
        return self.tok.kind == "keyword" and self.tok.value in words

    def expect_kw(self, word: str) -> None:
        if not self.is_kw(word):
            raise SoqlError(f"expected {word} at {self.tok.pos}, found {self.tok.value!r}")
        self.take()

    def expect_punct(self, p: str) -> None:
        if self.tok.kind != "punct" or self.tok.value != p:
            raise SoqlError(f"expected {p!r} at {self.tok.pos}, found {self.tok.value!r}")
        self.take()

    def query(self) -> Query:
        self.expect_kw("SELECT")
        fields = [self.path()]
        while self.tok.kind == "punct" and self.tok.value == ",":
            self.take()
            fields.append(self.path())
        self.expect_kw("FROM")
        if self.tok.kind != "name":
            raise SoqlError(f"expected an object name at {self.tok.pos}")
        sobject = self.take().value
        where = None
        if self.is_kw("WHERE"):
            self.take()
            where = self.condition()
        order: list[Order] = []
        if self.is_kw("ORDER"):
            self.take()
            self.expect_kw("BY")
            order.append(self.order_item())
            while self.tok.kind == "punct" and self.tok.value == ",":
                self.take()
                order.append(self.order_item())
        limit = None
        if self.is_kw("LIMIT"):
            self.take()
            t = self.take()
            if t.kind != "number" or t.value != int(t.value) or t.value < 0:
                raise SoqlError("LIMIT needs a whole number")
            limit = int(t.value)
        if self.tok.kind != "end":
            raise SoqlError(f"unexpected {self.tok.value!r} at {self.tok.pos}")
        return Query(tuple(fields), sobject, where, tuple(order), limit)

    def path(self) -> tuple[str, ...]:
        if self.tok.kind != "name":
            raise SoqlError(f"expected a field name at {self.tok.pos}, found {self.tok.value!r}")
        parts = [self.take().value]
        while self.tok.kind == "punct" and self.tok.value == ".":
            self.take()
            if self.tok.kind != "name":
                raise SoqlError(f"expected a field name after '.' at {self.tok.pos}")
            parts.append(self.take().value)
        return tuple(parts)

    def order_item(self) -> Order:
        path = self.path()
        descending = False
        if self.is_kw("ASC", "DESC"):
            descending = self.take().value == "DESC"
        nulls_last = descending  # Salesforce: NULLS FIRST for ASC, NULLS LAST for DESC
        if self.is_kw("NULLS"):
            self.take()
            if not self.is_kw("FIRST", "LAST"):
                raise SoqlError("NULLS needs FIRST or LAST")
            nulls_last = self.take().value == "LAST"
        return Order(path, descending, nulls_last)

    def condition(self) -> Any:
        parts = [self.and_()]
        while self.is_kw("OR"):
            self.take()
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else BoolOp("OR", tuple(parts))

    def and_(self) -> Any:
        parts = [self.not_()]
        while self.is_kw("AND"):
            self.take()
            parts.append(self.not_())
        return parts[0] if len(parts) == 1 else BoolOp("AND", tuple(parts))

    def not_(self) -> Any:
        if self.is_kw("NOT"):
            self.take()
            return Not(self.not_())
        if self.tok.kind == "punct" and self.tok.value == "(":
            self.take()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def literal(self) -> Any:
        t = self.take()
        if t.kind in ("string", "number", "date", "datetime"):
            return t.value
        if t.kind == "keyword" and t.value in ("TRUE", "FALSE"):
            return t.value == "TRUE"
        if t.kind == "keyword" and t.value == "NULL":
            return None
        raise SoqlError(f"expected a value at {t.pos}, found {t.value!r}")

    def comparison(self) -> Compare:
        path = self.path()
        if self.is_kw("NOT"):
            self.take()
            self.expect_kw("IN")
            return Compare(path, "NOT IN", self.value_list())
        if self.is_kw("IN"):
            self.take()
            return Compare(path, "IN", self.value_list())
        if self.is_kw("LIKE"):
            self.take()
            t = self.take()
            if t.kind != "string":
                raise SoqlError("LIKE needs a string")
            return Compare(path, "LIKE", t.value)
        if self.tok.kind != "op":
            raise SoqlError(f"expected an operator at {self.tok.pos}, found {self.tok.value!r}")
        op = self.take().value
        return Compare(path, "!=" if op == "<>" else op, self.literal())

    def value_list(self) -> tuple[Any, ...]:
        self.expect_punct("(")
        values = [self.literal()]
        while self.tok.kind == "punct" and self.tok.value == ",":
            self.take()
            values.append(self.literal())
        self.expect_punct(")")
        return tuple(values)


def parse(text: str) -> Query:
    return _Parser(text).query()


# -- evaluation -------------------------------------------------------------------------------

#: resolve(record, path) → the value at ``path`` (following relationships) or None
Resolve = Callable[[Mapping[str, Any], tuple[str, ...]], Any]


def _typed(value: Any, like: Any) -> Any:
    """A record's raw value (JSON-shaped: dateTimes and dates are text) as the literal's type."""
    if value is None:
        return None
    if isinstance(like, dt.datetime):
        text = str(value).replace("Z", "+00:00")
        if re.fullmatch(r".*[+-]\d{4}", text):
            text = text[:-2] + ":" + text[-2:]
        return dt.datetime.fromisoformat(text)
    if isinstance(like, dt.date):
        return dt.date.fromisoformat(str(value)[:10])
    if isinstance(like, bool):
        return bool(value)
    if isinstance(like, Decimal):
        return Decimal(str(value))
    return str(value) if not isinstance(value, str) else value


@functools.lru_cache(maxsize=256)
def _folded(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(v.casefold() for v in values)


def _like(value: str, pattern: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL) is not None


def matches(node: Any, record: Mapping[str, Any], resolve: Resolve) -> bool:
    if node is None:
        return True
    if isinstance(node, BoolOp):
        results = (matches(p, record, resolve) for p in node.parts)
        return all(results) if node.op == "AND" else any(results)
    if isinstance(node, Not):
        return not matches(node.part, record, resolve)
    raw = resolve(record, node.path)
    if node.op in ("IN", "NOT IN"):
        if raw is not None and all(isinstance(v, str) for v in node.value):
            hit = str(raw).casefold() in _folded(node.value)
        else:
            hit = any(raw is not None and v is not None and _typed(raw, v) == v for v in node.value)
        return hit if node.op == "IN" else (raw is not None and not hit)
    if node.op == "LIKE":
        return raw is not None and _like(str(raw), node.value)
    lit = node.value
    if lit is None:
        return (raw is None) if node.op == "=" else (raw is not None) if node.op == "!=" else False
    if raw is None:
        return node.op == "!="
    v = _typed(raw, lit)
    if isinstance(v, str) and isinstance(lit, str) and node.op in ("=", "!="):
        same = v.casefold() == lit.casefold()  # Salesforce compares text case-insensitively
        return same if node.op == "=" else not same
    return {"=": v == lit, "!=": v != lit, "<": v < lit, "<=": v <= lit, ">": v > lit,
            ">=": v >= lit}[node.op]


def _sort_value(raw: Any) -> Any:
    if isinstance(raw, str):
        m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})", raw)
        if m:
            return _typed(raw, dt.datetime.now(dt.UTC))
    return raw


def sort(records: list[Mapping[str, Any]], order: tuple[Order, ...],
         resolve: Resolve) -> list[Mapping[str, Any]]:
    out = list(records)
    for o in reversed(order):  # stable sorts, last key first
        present = [r for r in out if resolve(r, o.path) is not None]
        absent = [r for r in out if resolve(r, o.path) is None]
        present.sort(key=lambda r, p=o.path: _sort_value(resolve(r, p)), reverse=o.descending)
        out = present + absent if o.nulls_last else absent + present
    return out
