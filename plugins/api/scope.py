"""What a principal may see: the reps of its tenant it may read, and role checks.

The tenant comes from the token only; every read below goes through the engine's and the
plugins' tenant-scoped reads with that tenant. Within the tenant:

* ``admin`` sees every rep (``reps`` is ``None``: no filter);
* ``manager`` sees the reps whose manager (team roster) is the token's manager;
* ``rep`` sees the token's rep;
* ``service`` reads nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from attain.core import Engine

from .tokens import Principal


class Forbidden(Exception):
    """The principal's role may not do this (HTTP 403)."""


class NotFound(Exception):
    """Nothing of that name the principal may see (HTTP 404; also for a peer's data)."""


READERS = ("admin", "manager", "rep")


@dataclass(frozen=True)
class Scope:
    """A principal with the reps it may read (``None``: all of the tenant)."""

    principal: Principal
    reps: frozenset[str] | None

    @property
    def tenant(self) -> str:
        return self.principal.tenant

    @property
    def role(self) -> str:
        return self.principal.role

    def sees(self, rep: str | None) -> bool:
        return self.reps is None or (rep is not None and rep in self.reps)

    def sees_owner(self, owner: str) -> bool:
        """A goal owner (``company``, ``rep:NAME``, ``manager:NAME``, ``region:NAME``): a manager
        sees their own team's goal and their reps', a rep their own goals."""
        if self.reps is None:
            return True
        kind, _, name = owner.partition(":")
        if kind == "rep":
            return name in self.reps
        if kind == "manager":
            return self.role == "manager" and name == self.principal.manager
        return False

    def require(self, *roles: str) -> None:
        if self.role not in roles:
            raise Forbidden(f"a {self.role} token may not do this (needs {' or '.join(roles)})")


def team_of(engine: Engine, tenant: str, manager: str) -> frozenset[str]:
    """The reps whose manager is ``manager`` in the tenant's team roster."""
    return frozenset(name for name, rep in engine.dimensions(tenant).reps.items()
                     if rep.manager == manager)


def scope_of(engine: Engine, principal: Principal) -> Scope:
    if principal.role == "admin":
        return Scope(principal, None)
    if principal.role == "manager":
        return Scope(principal, team_of(engine, principal.tenant, principal.manager or ""))
    if principal.role == "rep":
        return Scope(principal, frozenset([principal.rep or ""]))
    return Scope(principal, frozenset())


def visible(scope: Scope, names: Iterable[str]) -> list[str]:
    return [n for n in names if scope.sees(n)]
