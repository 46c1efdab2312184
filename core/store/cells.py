"""How KPI cube cells are stored: one indexed text id per cell and its components as JSON.

A cell is ``(owner, product, account, quarter)`` (``""`` = none). ``kpi_cells.cell`` joins the four
keys with the ASCII unit separator (a row-value ``IN`` over four columns is not indexed);
``kpi_cells.components`` is a JSON object of exact decimal strings (zeros left out).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from json.encoder import encode_basestring_ascii as _quote

CellKey = tuple[str, str, str, str]

SEP = "\x1f"
ZERO = Decimal(0)


def cell_id(key: CellKey) -> str:
    """The stored id of a cell."""
    return SEP.join(key)


def cell_key(cid: str) -> CellKey:
    """The cell of a stored id (the inverse of :func:`cell_id`)."""
    o, p, a, q = cid.split(SEP)
    return (o, p, a, q)


#: component name → its JSON key text (``"name": ``); the names are a small fixed set
_keys: dict[str, str] = {}
KEYS_MAX = 10_000


def _encode(texts: Mapping[str, str]) -> str:
    """``json.dumps(texts, sort_keys=True)`` (the same text, escapes included), by joining the
    C encoder's quoted strings: ~15 % of a roll-up row's merge less than the encoder object."""
    keys = _keys
    if len(keys) > KEYS_MAX:  # priced components carry product names: many, but not unbounded
        keys.clear()
    return "{" + ", ".join([(keys.get(k) or keys.setdefault(k, _quote(k) + ": ")) + _quote(texts[k])
                            for k in sorted(texts)]) + "}"


def dumps_components(comps: Mapping[str, Decimal]) -> str:
    return _encode({k: str(v) for k, v in comps.items() if v != 0})


def loads_components(text: str) -> dict[str, Decimal]:
    return {k: Decimal(v) for k, v in json.loads(text).items()}


#: stored text → its parsed components (the text each :func:`add_components` returned, which a
#: later batch reads back from the row it wrote), so a row a batch touches again is not parsed
#: again; a pure function of the text, so it holds for any tenant, connection or process
_parsed: dict[str, dict[str, str]] = {}
PARSED_MAX = 50_000  # texts kept (then the cache starts over)


def add_components(text: str, delta: Mapping[str, Decimal]) -> str:
    """The stored ``text`` with ``delta`` added: exactly
    ``dumps_components(loads_components(text) + delta)``, but only the components the delta
    touches are parsed and formatted again (the others keep their stored text, which is already
    ``str`` of their value), and a text this function returned before is not parsed again."""
    known = _parsed.get(text)
    stored: dict[str, str] = dict(known) if known is not None else json.loads(text)
    for k, v in delta.items():
        old = stored.get(k)
        new = (ZERO if old is None else Decimal(old)) + v
        if new:
            stored[k] = str(new)
        elif old is not None:
            del stored[k]
    out: str = _encode(stored)
    if len(_parsed) >= PARSED_MAX:
        _parsed.clear()
    _parsed[out] = stored
    return out
