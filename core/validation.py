"""Turning inputs into validated events: one-line reasons for invalid ones, the same-content
rule for reused event ids."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import ValidationError

from .models import EVENT_ADAPTER, EVENT_TYPES, AnyEvent, float_money_seen, parse_event
from .records import Record

CONFLICT_REASON = "event_id reused with different content (the first event with this id is kept)"
NUL_REASON = "text fields must not contain the NUL character (\\u0000)"


def explain_validation(exc: ValidationError) -> str:
    """A one-line, human-readable reason from a pydantic error."""
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        loc = ".".join(str(x) for x in err.get("loc", ()) if x not in EVENT_TYPES)
        msg = err.get("msg", "invalid")
        if err.get("type") == "json_invalid":
            parts.append(f"invalid JSON: {err.get('ctx', {}).get('error', msg)}")
        elif loc:
            parts.append(f"{loc}: {msg}")
        else:
            parts.append(msg)
    more = exc.error_count() - 5
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def same_content(first: str | AnyEvent, payload: str | None, event: AnyEvent) -> bool:
    """Whether ``event`` (received as ``payload`` text, if it was text) says the same as the
    first event with its id: ``first`` is that event, or its stored payload. The same text is
    the same event; otherwise the validated fields are compared (so ``"1054.00"`` equals
    ``1054`` and key order or spacing do not matter), the tenant aside (ids are per tenant)."""
    if isinstance(first, str):
        if first == payload:
            return True
        try:
            first = parse_event(first)
        except ValidationError:  # stored under an older model: compare as text only
            return False
    if type(first) is not type(event):
        return False
    a, b = dict(first.__dict__), dict(event.__dict__)
    a.pop("tenant", None)
    b.pop("tenant", None)
    return a == b


def has_nul(event: AnyEvent) -> bool:
    """Whether a text field of ``event`` holds a NUL character (PostgreSQL cannot store it)."""
    return any(isinstance(v, str) and "\x00" in v for v in event.__dict__.values())


def validate_records(
    records: Iterable[Record], tenant: str | None
) -> tuple[list[tuple[Record, AnyEvent]], list[tuple[Record, str]], bool]:
    """Valid events (with their records), invalid records (with the reason), and whether the
    valid events name more than one tenant.

    With ``tenant``, an event that names no tenant is taken as ``tenant``'s and one naming
    another tenant is invalid."""
    good: list[tuple[Record, AnyEvent]] = []
    bad: list[tuple[Record, str]] = []
    keep = good.append
    first: str | None = None
    mixed = False
    for rec in records:
        if rec.reason is not None:
            bad.append((rec, rec.reason))
            continue
        p = rec.payload
        try:
            if isinstance(p, (str, bytes)):
                ev = parse_event(p)  # (amounts written as JSON floats are read exactly)
            elif isinstance(p, Mapping):
                ev = EVENT_ADAPTER.validate_python(p)
                float_money_seen()  # a Python float is taken as it is (its repr)
            else:
                ev = p
        except ValidationError as exc:
            bad.append((rec, explain_validation(exc)))
            continue
        # (inline: no extra call per event) only an escaped NUL in the text can make one
        if (b"\\u0000" in p if isinstance(p, bytes) else "\\u0000" in p if isinstance(p, str)
                else True) and has_nul(ev):
            bad.append((rec, NUL_REASON))
            continue
        t = ev.tenant
        if tenant is not None and t != tenant:
            if "tenant" in ev.model_fields_set:
                bad.append((rec, f"tenant: event is for tenant {t!r}, not {tenant!r}"))
                continue
            ev = ev.model_copy(update={"tenant": tenant})
            t = tenant
        if first is None:
            first = t
        elif t != first:
            mixed = True
        keep((rec, ev))
    return good, bad, mixed
