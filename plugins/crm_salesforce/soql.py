"""The SOQL the connector sends, built from field lists and typed values (never pasted text).

Every incremental query has the same shape::

    SELECT f1, f2, … FROM Object
    WHERE SystemModstamp >= 2017-03-01T16:55:00Z [AND …]
    ORDER BY SystemModstamp ASC, Id ASC

Ordering by the timestamp and then by ``Id`` makes the pages a total order, so the high-water
mark (the last committed record's ``SystemModstamp``) splits what was read from what was not;
``>=`` (not ``>``) re-reads the records sharing the mark's timestamp, so a page boundary inside a
run of equal timestamps loses nothing (the re-read ones are duplicates).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
#: at most this many ids in one ``IN (…)`` (keeps the query URL well under Salesforce's limit)
IN_CHUNK = 200


def name(text: str) -> str:
    """A field or object name (``Amount``, ``Owner.Name``, ``ARR__c``), checked."""
    if not _NAME.fullmatch(text):
        raise ValueError(f"not a Salesforce field or object name: {text!r}")
    return text


def datetime_literal(t: dt.datetime) -> str:
    """A SOQL dateTime literal in UTC: ``2017-03-01T16:55:00Z`` (``.123`` when it has ms)."""
    t = t.astimezone(dt.UTC) if t.tzinfo else t.replace(tzinfo=dt.UTC)
    ms = t.microsecond // 1000
    base = t.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{ms:03d}Z" if ms else f"{base}Z"


def string_literal(text: str) -> str:
    """A quoted SOQL string, escaping backslashes and quotes."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{escaped}'"


def select(fields: Sequence[str], sobject: str, where: Iterable[str] = (),
           order_by: Sequence[str] = (), limit: int | None = None) -> str:
    conditions = [w for w in where if w]
    parts = [f"SELECT {', '.join(name(f) for f in dict.fromkeys(fields))} FROM {name(sobject)}"]
    if conditions:
        parts.append("WHERE " + " AND ".join(conditions if len(conditions) == 1
                                              else [f"({c})" for c in conditions]))
    if order_by:
        parts.append("ORDER BY " + ", ".join(order_by))
    if limit is not None:
        parts.append(f"LIMIT {int(limit)}")
    return " ".join(parts)


def since(field: str, t: dt.datetime | None) -> str:
    """``field >= t`` (nothing when ``t`` is None: a full read)."""
    return "" if t is None else f"{name(field)} >= {datetime_literal(t)}"


def id_in(field: str, ids: Sequence[str]) -> str:
    return f"{name(field)} IN ({', '.join(string_literal(i) for i in ids)})"


def incremental(fields: Sequence[str], sobject: str, mark: dt.datetime | None,
                where: Iterable[str] = ()) -> str:
    """The incremental query of ``sobject`` from ``mark`` (a full read when None)."""
    return select([*fields, "Id", "SystemModstamp"], sobject, [since("SystemModstamp", mark), *where],
                  order_by=("SystemModstamp ASC", "Id ASC"))


def chunks(ids: Sequence[str], size: int = IN_CHUNK) -> Iterable[Sequence[str]]:
    for i in range(0, len(ids), size):
        yield ids[i:i + size]
