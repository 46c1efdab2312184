"""API tokens: created once, stored as a SHA-256 hash, scoped to one tenant and one role.

A token is ``attain_<id>_<secret>``: the id finds the row, the secret (32 random bytes,
URL-safe) is checked against the stored ``sha256(token)`` with a constant-time comparison. The
token itself is printed once by ``attain tokens create`` and never stored, logged or shown again.

Roles (docs/api.md):

* ``admin`` — everything of the tenant;
* ``manager`` — the reps whose manager is the token's ``manager`` (their KPI rows, goals and
  statements);
* ``rep`` — the token's ``rep`` only;
* ``service`` — publishes events (``POST /api/v1/events``) and nothing else.

Every read and write of the table is scoped by the tenant (:class:`TokenStore`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from attain.core.store import upsert
from sqlalchemy import Boolean, DateTime, String, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ROLES = ("admin", "manager", "rep", "service")
PREFIX = "attain_"
_TOKEN = re.compile(r"^attain_([0-9a-f]{16})_([A-Za-z0-9_-]{20,100})$")
_DURATION = re.compile(r"^(\d+)\s*([dhwm]?)$")


class TokenError(ValueError):
    """A token request the user can fix (an unknown role, a missing --rep …)."""


class ApiBase(DeclarativeBase):
    pass


class TokenRow(ApiBase):
    __tablename__ = "api_tokens"

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))  # sha256 hex of the whole token
    role: Mapped[str] = mapped_column(String(20))
    rep: Mapped[str | None] = mapped_column(String(300))
    manager: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(String(300))


@dataclass(frozen=True)
class Principal:
    """Who a valid token speaks for."""

    token_id: str
    tenant: str
    role: str
    rep: str | None = None
    manager: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"id": self.token_id, "tenant": self.tenant, "role": self.role, "rep": self.rep,
                "manager": self.manager}


def parse_duration(text: str) -> dt.timedelta:
    """``90d``, ``12h``, ``2w``, ``30m`` (minutes) or a number of days."""
    m = _DURATION.match(text.strip())
    if not m or int(m.group(1)) <= 0:
        raise TokenError(f"{text!r} is not a duration (e.g. 90d, 12h, 2w)")
    n, unit = int(m.group(1)), m.group(2) or "d"
    return {"d": dt.timedelta(days=n), "h": dt.timedelta(hours=n), "w": dt.timedelta(weeks=n),
            "m": dt.timedelta(minutes=n)}[unit]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class TokenStore:
    """The ``api_tokens`` table of one database; every call names its tenant."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, tenant: str, role: str, *, rep: str | None = None, manager: str | None = None,
               expires: dt.timedelta | None = None, note: str | None = None) -> tuple[str, TokenRow]:
        """A new token (returned once) and its stored row."""
        if role not in ROLES:
            raise TokenError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
        if role == "rep" and not rep:
            raise TokenError("a rep token needs --rep NAME")
        if role == "manager" and not manager:
            raise TokenError("a manager token needs --manager NAME")
        if role != "rep" and rep:
            raise TokenError("--rep is only for --role rep")
        if role != "manager" and manager:
            raise TokenError("--manager is only for --role manager")
        if not tenant:
            raise TokenError("a token needs a tenant")
        token_id = secrets.token_hex(8)
        token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        created = now()
        row = {"tenant": tenant, "id": token_id, "digest": digest(token), "role": role,
               "rep": rep, "manager": manager, "created_at": created,
               "expires_at": created + expires if expires else None, "revoked": False, "note": note}
        with self.engine.begin() as conn:
            upsert(conn, TokenRow.__table__, [row], ["tenant", "id"])
        return token, TokenRow(**row)

    def all(self, tenant: str) -> list[TokenRow]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(TokenRow.__table__).where(TokenRow.tenant == tenant)
                                .order_by(TokenRow.created_at, TokenRow.id)).mappings()
            return [TokenRow(**dict(r)) for r in rows]

    def tenants(self) -> list[str]:
        """The tenants that have a token (those the API serves)."""
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(select(TokenRow.tenant).distinct().order_by(TokenRow.tenant))]

    def revoke(self, tenant: str, token_id: str) -> bool:
        with self.engine.begin() as conn:
            res = conn.execute(update(TokenRow).where(TokenRow.tenant == tenant, TokenRow.id == token_id)
                               .values(revoked=True))
            return bool(res.rowcount)

    def verify(self, token: str) -> Principal | None:
        """The principal of a valid (known, unrevoked, unexpired) token, else None."""
        m = _TOKEN.match(token)
        if not m:
            return None
        with self.engine.connect() as conn:
            rows = conn.execute(select(TokenRow.__table__).where(TokenRow.id == m.group(1))).mappings().all()
        for r in rows:  # ids are random; a clash across tenants is told apart by the digest
            if not hmac.compare_digest(r["digest"], digest(token)):
                continue
            if r["revoked"] or (r["expires_at"] is not None and r["expires_at"] <= now()):
                return None
            return Principal(r["id"], r["tenant"], r["role"], r["rep"], r["manager"])
        return None


def token_row(row: TokenRow) -> dict[str, object]:
    """A stored token as shown by ``tokens list`` (never the token or its hash)."""
    expired = row.expires_at is not None and row.expires_at <= now()
    return {"id": row.id, "tenant": row.tenant, "role": row.role, "rep": row.rep,
            "manager": row.manager, "created_at": row.created_at, "expires_at": row.expires_at,
            "status": "revoked" if row.revoked else "expired" if expired else "active"}
